# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Panorama distortion: what an equirectangular image does to the world
#
# A 360° camera sees the whole sphere. To store it as an ordinary image, the **equirectangular
# projection** (ERP) unrolls the sphere onto a 2:1 rectangle: longitude becomes the column,
# latitude the row. This notebook shows what that costs and how tangent views, cubemaps and
# rotations work around it, on a synthetic street world rendered by `gsam_lab` itself.
#
# **You will:**
# 1. map ERP pixels to directions on the sphere and back;
# 2. measure area distortion and draw Tissot's indicatrix;
# 3. cut distortion-free tangent (gnomonic) views and a cubemap, and put them back;
# 4. rotate the sphere;
# 5. watch the *same* object grow and bend as it moves toward a pole;
# 6. see where each class lives on the sphere;
# 7. explore all of it with a yaw / pitch / FoV widget.
#
# Why it matters for the rest of the lab: a segmentation model trained on ordinary (pinhole)
# photos has never seen the stretched shapes near the top and bottom of a panorama.
# GoodSAM (notebooks 04–05) is about closing exactly that gap.
#
# **Run time:** quick profile about 10 s on 2 idle CPU cores (`gsam-lab run 01`; two to three times longer
# when other work shares the cores); full profile (1024×2048 panoramas): not measured.

# %%
# Colab or a fresh kernel: install gsam_lab only when it is missing
# (set GSAM_LAB_PIP to install another source)
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("gsam_lab") is None:
    spec = os.environ.get("GSAM_LAB_PIP", "gsam_lab[notebooks] @ git+https://github.com/gsam-lab/gsam_lab")
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", spec])

# %%

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import gsam_lab
from gsam_lab import data, panorama, viz, widgets

# %% [markdown]
# ## Parameters
# Papermill and `gsam-lab run -p key=value` override this cell. Sizes left at `None` come from the profile.

# %% tags=["parameters"]
from typing import Optional, Tuple  # isort: skip (the types named in the annotations below)
profile: str = "quick"          # quick | full
device: str = "auto"            # auto | cpu | cuda | mps
seed: int = 0                   # world seed of the panorama we study
check_claims: bool = True        # False skips the teaching asserts; mechanical checks always run
data_root: str = ""             # optional folder of real panoramas (FolderDataset "generic" layout) for section 6
out_dir: str = "outputs/01_panorama_distortion"   # figures go here
erp_hw: "Optional[Tuple[int, int]]" = None   # studied panorama (H, W); None: (256, 512) quick, (1024, 2048) full
view_hw: "Optional[Tuple[int, int]]" = None  # (h, w) of tangent views; None: (160, 160) quick, (512, 512) full
n_stats: "Optional[int]" = None              # panoramas pooled for class statistics; None: 6 quick, 100 full
stats_hw: "Optional[Tuple[int, int]]" = None  # their size; None: (128, 256) quick, (256, 512) full

# %%
lab = gsam_lab.setup("01", profile, device=device, seed=seed, out_dir=out_dir,
                     erp_hw=erp_hw, view_hw=view_hw, n_stats=n_stats, stats_hw=stats_hw)
cfg, dev, out = lab.cfg, lab.device, lab.out
H, W = cfg.erp_hw
print(f"ERP {H}x{W}  views {cfg.view_hw}")

# %% [markdown]
# ## 1. A panorama is a sphere, unrolled
#
# Every ERP pixel centre `(u, v)` (column, row; `u ∈ [0, W)`, `v ∈ [0, H)`) is a direction:
#
# $$\text{lon} = \frac{u}{W}\,2\pi - \pi, \qquad \text{lat} = \frac{\pi}{2} - \frac{v}{H}\,\pi .$$
#
# Row 0 is the north pole (straight up), the last row the south pole (straight down), the centre
# column looks forward and the left/right edges meet at the ±180° **seam** behind the camera.
# Our synthetic street is rendered by casting one ray per pixel along exactly these directions.

# %%
world = data.make_world(seed)
pano = data.render_panorama(world, H, W, device=dev)      # dict: image, semantic, instance, depth

fig, axes = plt.subplots(2, 1, figsize=(10, 10))
viz.plot_erp(axes[0], pano["image"])
axes[0].set_title("rendered panorama (ERP) with its lon/lat graticule")
viz.plot_erp(axes[1], viz.colorize(pano["semantic"]))
axes[1].set_title("semantic labels")
viz.add_class_legend(axes[1], loc="lower right", fontsize=7, ncol=3)
fig.tight_layout()
viz.savefig(fig, out / "panorama.png")
plt.show()

# %%
# pixel -> (lon, lat) -> unit vector -> back
u = torch.tensor([0.5, W / 2, W - 0.5, W / 2])
v = torch.tensor([H / 2, H / 2, H / 2, 0.5])
lon, lat = panorama.pixel_to_lonlat(u, v, H, W)
xyz = panorama.lonlat_to_xyz(lon, lat)
u2, v2 = panorama.lonlat_to_pixel(*panorama.xyz_to_lonlat(xyz), H, W)
for i in range(4):
    print(f"pixel (u={u[i]:7.1f}, v={v[i]:6.1f}) -> lon {lon[i].rad2deg():7.2f}°, lat {lat[i].rad2deg():6.2f}° "
          f"-> xyz {xyz[i].numpy().round(3)}")

# %%
# what this section teaches, checked
assert torch.allclose(u2, u, atol=1e-3) and torch.allclose(v2, v, atol=1e-3), "pixel -> sphere -> pixel must round-trip"
assert abs(lon[1].rad2deg()) < 1e-3 and abs(lat[3].rad2deg() - 90) < 180 / H, "centre column looks forward, row 0 up"

# %% [markdown]
# ## 2. How much does the ERP stretch the sphere?
#
# A row of the ERP always has `W` pixels, but the circle of latitude it shows has circumference
# `2π cos(lat)`. So each pixel near latitude `lat` covers `cos(lat)` times the sphere area of a pixel
# on the equator: things are drawn **`1 / cos(lat)` times too large**, and only sideways. At ±60°
# that is 2×, at ±80° almost 6×. The rows at the poles show a single point smeared over `W` pixels.

# %%
area = panorama.area_distortion(H, W)          # H x W, 1 at the equator
omega = panorama.pixel_solid_angle(H, W)       # steradians per pixel
lat_rows = 90 - (np.arange(H) + 0.5) / H * 180

fig, axes = plt.subplots(1, 2, figsize=(12, 3.5), gridspec_kw={"width_ratios": [2, 1]})
im = viz.plot_erp(axes[0], np.log2(area.numpy()), grid=True, cmap="magma")
fig.colorbar(im, ax=axes[0], label="log2 area scale")
axes[0].set_title("area distortion of every ERP pixel")
axes[1].semilogy(lat_rows, area[:, 0], label="ERP area scale 1/cos(lat)")
axes[1].set_xlabel("latitude (°)")
axes[1].set_ylabel("times larger than true")
axes[1].grid(alpha=.3)
axes[1].legend()
fig.tight_layout()
viz.savefig(fig, out / "area_distortion.png")
print(f"whole sphere = {omega.sum():.4f} sr (4π = {4 * np.pi:.4f});  scale at 60°: {1 / np.cos(np.radians(60)):.2f}, "
      f"at 80°: {1 / np.cos(np.radians(80)):.2f}")

# %%
row60 = int(np.argmin(np.abs(lat_rows - 60)))
assert abs(float(omega.sum()) - 4 * np.pi) < 1e-3 * 4 * np.pi, "the pixels' solid angles tile the sphere"
assert abs(float(area[row60, 0]) - 1 / np.cos(np.radians(lat_rows[row60]))) < 1e-3, "area scale is 1/cos(lat)"

# %% [markdown]
# ### Tissot's indicatrix
#
# Draw identical small circles (radius 8° on the sphere) all over the panorama. On the ERP they
# become ellipses that widen with latitude; very close to a pole they even bend into arcs. For an
# infinitesimally small circle the width/height ratio is exactly the east–west scale `1/cos(lat)`
# (the north–south scale stays 1). Below, we measure it on tiny (1°) circles.

# %%
rings = panorama.tissot_ellipses(H, W, n_lon=8, n_lat=7, radius_deg=8.0)
fig, ax = plt.subplots(figsize=(10, 5))
viz.plot_erp(ax, pano["image"])
viz.draw_polylines(ax, rings, color="yellow", lw=1.5)
ax.set_title("Tissot's indicatrix: equal circles on the sphere, drawn on the ERP")
viz.savefig(fig, out / "tissot.png")

rows = []
for ring in panorama.tissot_ellipses(H, W, n_lon=4, n_lat=7, radius_deg=1.0):   # tiny circles: the local scale
    width, height = np.ptp(ring[:, 0]), np.ptp(ring[:, 1])
    lat_c = 90 - ring[:, 1].mean() / H * 180
    if width < W / 2:                               # skip pieces split by the seam
        rows.append((round(lat_c), width / height, panorama.tissot_axes(lat_c)[0]))
tissot = (pd.DataFrame(rows, columns=["lat", "measured w/h", "1/cos(lat)"])
          .groupby("lat").mean().sort_index(ascending=False))
tissot

# %%
if check_claims:
    assert np.allclose(tissot["measured w/h"], tissot["1/cos(lat)"], rtol=0.06), "ellipses widen exactly as 1/cos(lat)"

# %% [markdown]
# ## 3. Tangent views: undo the distortion, locally
#
# A **tangent (gnomonic) view** is what a pinhole camera looking in direction (yaw, pitch) with a
# given field of view would have seen: straight lines stay straight, shapes look natural. We get it
# by casting each view pixel's ray and sampling the ERP where it lands (`grid_sample`, wrapping
# across the seam). The coloured outlines are the views' **footprints** on the ERP: near the poles a
# small square view covers a huge, curved region of the panorama.

# %%
yaws = [-90, 0, 90, 180, 0, 0]
pitches = [0, 0, 0, 0, -60, 60]
views = panorama.erp_to_perspective(pano["image"], 90, yaws, pitches, cfg.view_hw)   # V x h x w x 3 (numpy in and out)
titles = [f"yaw {y}°, pitch {p}°" for y, p in zip(yaws, pitches)]
fig = viz.show_grid(list(views), titles, ncols=6, size=2.4, suptitle="tangent views (FoV 90°)")
viz.savefig(fig, out / "tangent_views.png")

fig, ax = plt.subplots(figsize=(10, 5))
viz.plot_erp(ax, pano["image"])
for k, (y, p) in enumerate(zip(yaws, pitches)):
    viz.draw_polylines(ax, panorama.perspective_footprint(90, y, p, cfg.view_hw, (H, W)), color=plt.cm.tab10(k),
                       lw=2, label=f"yaw {y}°, pitch {p}°")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
ax.set_title("footprints of the six views")
viz.savefig(fig, out / "footprints.png")
plt.show()

# %% [markdown]
# A tangent view of the ERP render should match what a real pinhole camera at the same place sees.
# Our renderer has a pinhole camera too, so we can check it pixel by pixel (labels agree except
# along edges, where resampling moves a boundary by a pixel).

# %%
pin = data.render_pinhole(world, *cfg.view_hw, fov_deg=90, yaw_deg=45, pitch_deg=-20, device=dev)
cut = panorama.erp_to_perspective(pano["semantic"], 90, 45, -20, cfg.view_hw, mode="nearest")
agree = float((cut == pin["semantic"]).mean())
fig = viz.show_grid([pin["image"], viz.colorize(pin["semantic"]), viz.colorize(cut), (cut != pin["semantic"])],
                    ["pinhole render", "pinhole labels", "cut from the ERP", "disagreement (white)"], ncols=4,
                    size=2.6)
viz.add_class_legend(fig, present=[pin["semantic"], cut])
viz.savefig(fig, out / "pinhole_vs_tangent.png")
print(f"label agreement between the pinhole render and the tangent view of the ERP: {agree:.1%}")
if check_claims:
    assert agree > 0.85, "a tangent view of the panorama is a pinhole image"

# %% [markdown]
# ### Cubemap, and back
#
# Six 90° views (front, right, back, left, up, down) tile the sphere: the **cubemap**. Each face is
# distortion-light, but objects are cut at the face edges. Going back (`cubemap_to_erp`) resamples
# each ERP pixel from the face its ray hits; the round trip is close but not exact, because of two
# bilinear resamplings.

# %%
erp_t = torch.from_numpy(pano["image"]).permute(2, 0, 1).float() / 255     # 3 x H x W in [0, 1]
faces = panorama.erp_to_cubemap(erp_t, face_size=H // 2)                    # 6 x 3 x f x f
back = panorama.cubemap_to_erp(faces, (H, W))
fig = viz.show_grid(list(faces), list(panorama.FACE_NAMES), ncols=6, size=2.0, suptitle="cubemap faces")
viz.savefig(fig, out / "cubemap.png")
err_cube = (back - erp_t).abs().mean().item()

views_t = panorama.erp_to_perspective(erp_t, 90, yaws, pitches, cfg.view_hw)
merged, cover = panorama.perspective_to_erp(views_t, 90, yaws, pitches, (H, W))
again = panorama.erp_to_perspective(merged, 90, 30, 0, cfg.view_hw)
direct = panorama.erp_to_perspective(erp_t, 90, 30, 0, cfg.view_hw)
err_views = (again - direct).abs().mean().item()
print(f"ERP -> cubemap -> ERP mean abs error: {err_cube:.4f}   (image range 0..1)")
print(f"ERP -> 6 views -> ERP -> view mean abs error: {err_views:.4f};  "
      f"sphere covered by the 6 views: {(cover > 0).float().mean():.1%}")
if check_claims:
    assert err_cube < 0.03 and err_views < 0.03, "tangent views and cubemaps lose little when resampled back"

# %% [markdown]
# ## 4. Rotating the sphere
#
# Which direction is "up" in an ERP is a choice. `rotate_erp` re-renders the panorama for a
# rotated camera. Tilting by 90° moves the north pole onto the equator, and the distortion moves
# with it: the road that was smeared along the bottom becomes a compact disc, while the horizon turns
# into a wave. Rotating back recovers the original (up to resampling near the poles).

# %%
tilted = panorama.rotate_erp(erp_t, pitch_deg=-90)          # the ground (south pole) now sits at the centre
restored = panorama.rotate_erp(tilted, pitch_deg=-90, inverse=True)
spun = panorama.rotate_erp(erp_t, yaw_deg=90)                # a pure yaw is just a shift of columns
fig = viz.show_grid([erp_t, tilted, restored], ["original", "pitch -90°: the ground at the centre", "rotated back"],
                    ncols=3, size=3.3)
viz.savefig(fig, out / "rotation.png")
band = slice(H // 6, H - H // 6)                               # away from the poles, where detail was smeared
err_rot = (restored - erp_t)[:, band].abs().mean().item()
print(f"rotate + inverse, mean abs error away from the poles: {err_rot:.4f}")
assert torch.equal(spun, torch.roll(erp_t, -W // 4, dims=-1)), "a whole-pixel yaw is an exact column roll"
if check_claims:
    assert err_rot < 0.03

# %% [markdown]
# ## 5. The same object at different latitudes
#
# Take one car as a pinhole camera sees it (a 40° view centred on it), then paste that very view
# back into an empty panorama at latitudes 0°, 30°, 60° and 75°. It is the *same* object with the
# *same* solid angle, yet the ERP draws it over more and more pixels and bends it into a fan. A
# network trained on pinhole images meets these shapes only in panoramas.

# %%
cars = [i for i in np.unique(pano["instance"])
        if i and (pano["semantic"][pano["instance"] == i] == data.CLASSES.index("car")).all()]
car = max(cars, key=lambda i: (pano["instance"] == i).sum())           # the biggest car in the panorama
vv, uu = np.nonzero(pano["instance"] == car)
car_lon, car_lat = (np.degrees(a.item())
                    for a in panorama.pixel_to_lonlat(torch.tensor(uu.mean() + .5), torch.tensor(vv.mean() + .5), H, W))
shot = data.render_pinhole(world, 96, 96, fov_deg=40, yaw_deg=car_lon, pitch_deg=car_lat, device=dev)
car_mask = (shot["instance"] == car).astype(np.uint8)
car_only = shot["image"] * car_mask[..., None]                          # the car, without its background

lats = [0, 30, 60, 75]
yaws_paste = [-135, -45, 45, 135]
# one copy per latitude
pasted, _ = panorama.perspective_to_erp(np.repeat(car_only[None], 4, 0), 40, yaws_paste, lats, (H, W))
copies = [panorama.perspective_to_erp(car_mask, 40, y, la, (H, W), mode="nearest")[0] > 0
          for y, la in zip(yaws_paste, lats)]                           # where each copy lands
pixels = [int(m.sum()) for m in copies]
growth = pd.DataFrame({"latitude": lats, "ERP pixels": pixels,
                       "measured growth": np.array(pixels) / pixels[0],
                       "1/cos(lat)": 1 / np.cos(np.radians(lats))})
canvas = np.full((H, W, 3), 235, np.uint8)                             # a light background: the car is dark
covered = np.any(copies, axis=0)
canvas[covered] = np.asarray(pasted, dtype=np.uint8)[covered]
fig, ax = plt.subplots(figsize=(10, 5))
viz.plot_erp(ax, canvas, grid_kw=dict(color="grey"))
centres = (np.arange(W) + 0.5, np.arange(H) + 0.5)                      # pixel centres, as plot_erp draws them
for k, (m, y, la, n) in enumerate(zip(copies, yaws_paste, lats, pixels)):
    colour = plt.cm.tab10(k)
    ax.contour(*centres, m, levels=[0.5], colors=[colour], linewidths=1.5)
    u, v = panorama.lonlat_to_pixel(torch.tensor(np.radians(y)), torch.tensor(np.radians(la)), H, W)
    ax.annotate(f"lat {la}°: {n / pixels[0]:.1f}x the pixels", (float(u), float(v)), color=colour, fontsize=9,
                ha="center", va="center", xytext=(0, -32 if la < 60 else -56), textcoords="offset points",
                bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor=colour))
ax.set_title("one car, pasted at latitudes 0°, 30°, 60°, 75° (outlined; growth against latitude 0°)")
viz.savefig(fig, out / "same_object.png")
growth

# %%
if check_claims:
    assert all(a < b for a, b in zip(pixels, pixels[1:])), \
        "the same object covers more ERP pixels the closer it is to a pole"
    assert abs(growth["measured growth"][2] / growth["1/cos(lat)"][2] - 1) < 0.2, \
        "growth follows 1/cos(lat) (here at 60°)"

# %% [markdown]
# ## 6. Where classes live on the sphere
#
# A street panorama is far from uniform: sky above, road below, cars, people and poles around the
# horizon. The table pools several panoramas and weights each pixel by its true solid angle
# (so it describes the sphere, not the stretched image). Set `data_root` to a folder of real
# labelled panoramas (the generic layout of `data.FolderDataset`) to compute the same table for them.

# %%
if data_root:
    pool = data.FolderDataset(data_root, layout="generic")
else:
    pool = data.SyntheticPanoramas("train", n=cfg.n_stats, hw=cfg.stats_hw, seed=seed)
shares = data.latitude_class_shares((pool[i]["semantic"].numpy() for i in range(len(pool))), bands=6)

fig, ax = plt.subplots(figsize=(9, 3.8))
left = np.zeros(len(shares))
for k, name in enumerate(shares.columns):
    ax.barh(shares.index, shares[name], left=left, color=data.PALETTE[k] / 255, label=name)
    left += shares[name].to_numpy()
ax.invert_yaxis()
ax.set_xlabel("share of the band's solid angle")
ax.set_ylabel("latitude band")
ax.legend(ncol=5, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))
fig.tight_layout()
viz.savefig(fig, out / "class_by_latitude.png")
shares.round(3)

# %%
if check_claims and not data_root:     # claims about the synthetic street world
    top, bottom = shares.iloc[0], shares.iloc[-1]
    assert top.idxmax() == "sky", "the top band is mostly sky"
    assert bottom[["road", "sidewalk", "terrain"]].sum() > 0.5, "the bottom band is mostly ground"
    things = shares[["car", "person", "pole"]].sum(axis=1)
    assert things.iloc[2:4].sum() > things.iloc[[0, -1]].sum(), "objects crowd around the horizon"

# %% [markdown]
# ## 7. Explore it yourself
#
# Move the sliders: the left image is the panorama with the view's footprint, the right one the
# tangent view. Watch the footprint balloon as you pitch toward a pole, and split when you look
# across the seam behind the camera. (The widget needs a live kernel; in a static copy of this
# notebook the screenshot shows what it looks like, and the cell below the widget runs the same logic
# without the sliders.)

# %%
# what the widget looks like in JupyterLab: a screenshot, kept in this cell's output
widgets.screenshot("distortion_explorer", width=760)

# %%
explorer = widgets.DistortionExplorer(pano["image"], view_hw=cfg.view_hw)
explorer

# %%
# the widget's logic is a plain function: ERP pixels a 160x160 view covers, pitching toward the pole
frames = [widgets.explorer_frame(pano["image"], 0, p, 60, cfg.view_hw) for p in (0, 30, 60, 80)]
for p, f in zip((0, 30, 60, 80), frames):
    print(f"pitch {p:2d}°: {f.erp_pixels:6d} ERP px  ({f.stretch:.2f} per view pixel)")
if check_claims:
    assert all(a.stretch < b.stretch for a, b in zip(frames, frames[1:])), \
        "the same view costs more ERP pixels near the pole"

# %% [markdown]
# ## What to take away
#
# - The ERP is a full-sphere image whose **area scale is 1/cos(lat)**: shapes near the top and bottom
#   are stretched sideways, bent, and drawn over many more pixels than they deserve.
# - **Tangent views** (and the cubemap) give back pinhole-like, distortion-light images of any
#   direction; re-projecting them into the ERP is how GoodSAM-style pipelines merge per-view predictions.
# - **Rotations** move the distortion around but never remove it.
# - Classes are not spread evenly on the sphere: ground below, sky above, objects around the horizon.
# - Real benchmarks do not always keep the whole sphere. **DensePASS**, the panoramic test set GoodSAM
#   reports on, is a 400 x 2048 strip that covers only about ±35° of latitude (a 70° band around the
#   horizon): its labelled pixels skip the most distorted rows shown above. Notebook 04 centres such a
#   strip in a full panorama and ignores the rest, so results on it speak for the band near the
#   equator, not for the poles.
#
# Next: notebook 02 looks at SAM's masks on these images and how they wobble under casual prompts;
# notebook 04 measures how a pinhole-trained segmenter's accuracy falls with latitude and repairs it.

# %% [markdown]
# ## Your turn
#
# Change a value, write down what you expect, then run the cells and compare with what they print.
#
# 1. **Bigger circles.** In section 2, draw *and* measure the indicatrix with `radius_deg=20.0`. The
#    width/height ratio equals `1/cos(lat)` only for small circles: at high latitudes, does the measured
#    ratio overshoot or undershoot `1/cos(lat)`? Which circles drop out of the table, and why (the loop
#    skips rings that the seam splits)?
# 2. **Closer to the pole.** In section 5, paste the car at `lats = [0, 30, 60, 85]`. `1/cos(85°)` is
#    11.5: does the measured growth reach it? A 40° view centred at 85° reaches over the pole, where the
#    ERP has no more rows to spread it over. What does that say about using `1/cos(lat)` for large objects?
# 3. **A yaw that is not a whole pixel.** Is `panorama.rotate_erp(erp_t, yaw_deg=1.0)` still an exact
#    `torch.roll`? 1° is 512 / 360 = 1.42 columns at `W = 512`, 45° exactly 64: compare both with the
#    nearest roll (`torch.equal`, and the mean absolute difference).
# 4. **Field of view.** Call `widgets.explorer_frame(pano["image"], 0, 0, fov, cfg.view_hw)` for
#    `fov` = 30, 60, 90 and 120 at the equator and read `stretch` (ERP pixels per view pixel): a wider
#    view squeezes more of the sphere into the same 160 × 160 pixels. At which FoV does a tangent view
#    stop saving pixels against the ERP (`stretch` above 1)?
