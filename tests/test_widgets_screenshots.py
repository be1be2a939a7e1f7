"""The widgets' screenshots: embedded as bytes when the repository's docs/img is there, a link otherwise."""
import pytest

from gsam_lab import widgets
from gsam_lab.widgets import screenshots


@pytest.mark.parametrize("name", sorted(widgets.SCREENSHOTS))
def test_each_screenshot_is_a_png_in_docs_img(name):
    path = widgets.screenshot_path(name)
    assert path is not None and path.name == f"{name}.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", sorted(widgets.SCREENSHOTS))
def test_the_image_embeds_the_file_bytes(name):
    img = widgets.screenshot(name, width=600)
    assert img.data == widgets.screenshot_path(name).read_bytes()
    assert img._repr_png_() is not None                     # what a notebook stores in the cell's output
    assert img.width == 600


def test_without_docs_img_it_links_to_the_repository(tmp_path, monkeypatch):
    monkeypatch.setattr(screenshots, "DOCS_IMG", tmp_path / "absent")
    assert widgets.screenshot_path("prompt_playground") is None
    img = widgets.screenshot("prompt_playground")
    assert img.url == screenshots.REPOSITORY_URL.format(name="prompt_playground") and not img.embed
    assert img.url.endswith("/docs/img/prompt_playground.png")


def test_an_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match="distortion_explorer, prompt_playground"):
        widgets.screenshot("explorer")
