"""Notebook 01 in a real JupyterLab: Run All, then move the distortion explorer's sliders as a person would."""
import re

import numpy as np
import pytest

from labdriver import (
    assert_no_errors,
    image_src,
    open_notebook,
    png_pixels,
    publish_to_docs,
    run_all_cells,
    shot,
    wait_src_change,
)

NOTEBOOK = "01_panorama_distortion.ipynb"
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1200)]


def _slider(explorer, label):
    return explorer.locator(".widget-slider", has=explorer.page.locator(".widget-label", has_text=label)).first


def _value(slider) -> float:
    return float(slider.locator(".noUi-handle").first.get_attribute("aria-valuenow"))


def _stretch(explorer) -> float:
    """ERP pixels per view pixel, from the explorer's readout line."""
    text = explorer.locator(".widget-html-content").last.inner_text()
    m = re.search(r"\(([\d.]+) ERP px per view px\)", text)
    assert m, f"the explorer's readout does not show the stretch: {text!r}"
    return float(m.group(1))


def _red(pixels: np.ndarray) -> int:
    """Pixels of the footprint's red outline (255, 40, 40), allowing for the browser's scaling."""
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return int(((r > 190) & (g < 90) & (b < 90)).sum())


def _images(pg, explorer, old_srcs, what):
    """Wait until both images (ERP overlay, tangent view) have new content; return (srcs, pixels)."""
    imgs = explorer.locator("img")
    srcs = [wait_src_change(pg, imgs.nth(i), old_srcs[i], f"{what}: {name}")
            for i, name in enumerate(("the ERP footprint overlay", "the tangent view"))]
    pg.wait_for_timeout(300)            # let the new PNGs paint
    return srcs, [png_pixels(imgs.nth(i).screenshot()) for i in range(2)]


def test_explorer_sliders_change_view_and_footprint(page, lab, browser_out):
    open_notebook(page, lab, NOTEBOOK)
    state = run_all_cells(page)
    assert_no_errors(page, state)

    yaw_label = page.locator(".widget-label", has_text="yaw °")
    explorer = page.locator(".jp-OutputArea-output .widget-vbox", has=yaw_label).first
    explorer.scroll_into_view_if_needed()
    imgs = explorer.locator("img")
    assert imgs.count() == 2, f"the explorer should show 2 images (ERP + view), found {imgs.count()}"
    page.wait_for_function("els => els.every(e => e.src && e.naturalWidth > 0)", arg=imgs.element_handles())
    srcs = [image_src(imgs.nth(i)) for i in range(2)]
    pix = [png_pixels(imgs.nth(i).screenshot()) for i in range(2)]
    shot(page, browser_out, "explorer_1_initial", explorer)
    stretch0 = _stretch(explorer)
    yaw, pitch, fov = _slider(explorer, "yaw °"), _slider(explorer, "pitch °"), _slider(explorer, "FoV °")
    assert (_value(yaw), _value(pitch), _value(fov)) == (0.0, 0.0, 90.0), "unexpected initial slider values"

    # 1) yaw by keyboard: focus the handle, PageUp moves 5 steps of 1°
    yaw.locator(".noUi-handle").focus()
    for _ in range(6):
        page.keyboard.press("PageUp")
    page.wait_for_function("h => parseFloat(h.getAttribute('aria-valuenow')) === 30",
                           arg=yaw.locator(".noUi-handle").element_handle(), timeout=10_000)
    srcs, new = _images(page, explorer, srcs, "yaw 0° -> 30°")
    assert not np.array_equal(new[1], pix[1]), "the tangent view looks the same after turning 30° in yaw"
    assert not np.array_equal(new[0], pix[0]), "the footprint did not move after turning 30° in yaw"
    pix = new
    shot(page, browser_out, "explorer_2_yaw30", explorer)

    # 2) pitch by mouse: drag the handle to the right (toward +90°)
    handle = pitch.locator(".noUi-handle")
    box = handle.bounding_box()
    track = pitch.locator(".noUi-base").bounding_box()
    assert box and track, "the pitch slider is not visible"
    x0, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + track["width"] / 6, y0, steps=8)       # 1/6 of 180° ~ +30°; go on to ~ +60°
    page.mouse.move(x0 + track["width"] / 3, y0, steps=8)
    page.mouse.up()
    srcs, new = _images(page, explorer, srcs, "pitch drag")
    p = _value(pitch)
    assert 40 <= p <= 80, f"dragging the pitch handle a third of the track should give about +60°, got {p}"
    assert not np.array_equal(new[1], pix[1]), "the tangent view looks the same after pitching up"
    assert not np.array_equal(new[0], pix[0]), "the footprint did not change after pitching up"
    stretch_up = _stretch(explorer)
    assert stretch_up > stretch0 * 1.2, (f"a view pitched to {p}° should cover more ERP pixels per view pixel than at "
                                         f"the equator: {stretch_up} vs {stretch0}")
    red_90 = _red(new[0])
    pix = new
    pitched = shot(page, browser_out, "explorer_3_pitch", explorer)

    # 3) FoV by typing into the slider's readout, as a person may
    readout = fov.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("40")
    page.keyboard.press("Enter")
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    srcs, new = _images(page, explorer, srcs, "FoV 90° -> 40°")
    assert _value(fov) == 40.0, f"typing 40 into the FoV readout gave {_value(fov)}"
    assert not np.array_equal(new[1], pix[1]), "the tangent view looks the same after zooming in"
    red_40 = _red(new[0])
    assert red_90 > 0, "no red footprint outline found on the ERP overlay"
    assert red_40 < 0.8 * red_90, f"a 40° view's outline should be shorter than a 90° view's: {red_40} vs {red_90} px"
    shot(page, browser_out, "explorer_4_fov40", explorer)
    shot(page, browser_out, "explorer_page", None)
    publish_to_docs(pitched, "distortion_explorer.png")     # README image, with GSAM_LAB_UPDATE_DOCS_IMG=1
