"""Inside the CNN: an overview of the current photo through every stage at once (as CNN Explainer draws it), every
stage with its output shape and size, the feature maps of a chosen stage, the first layer's learned filters, and
the validation images that excite a channel most.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import cv2
import gradio as gr
import numpy as np

from core.explain import (
    TOP_IMAGES,
    StageMaps,
    channel_index,
    feature_maps,
    first_layer_filters,
    heatmap_rgb,
    normalise_map,
    pixelated,
    stage_overview,
    top_images,
)
from core.models import count_parameters, describe_stages, members
from core.predict import preprocess
from demo.common import AppContext, finite_number, photo_input, user_message
from demo.plots import cell_at

FEATURE_MAPS = 16  # the most active channels shown
TILE = 96  # pixels per feature-map tile
STAGE_HEADERS = ["stage", "output shape (channels x height x width)", "parameters"]
# The overview: per stage a few maps, small enough that a 9-stage MobileNetV2 fits on one screen
OVERVIEW_MAPS = 6
OVERVIEW_TILE = 72
OVERVIEW_GAP = 6
OVERVIEW_LABEL = 190  # the left column: stage name and shape
OVERVIEW_HEADER = 28
# Gradio's "auto" gallery height is a box of 450 px to 55% of the window that scrolls: the top 9 showed 6 and a half
# images. "fit-content" makes each gallery as tall as its grid, so every tile is in view.
GALLERY_HEIGHT = "fit-content"


def stages_table(ctx: AppContext, model: str | None) -> list[list]:
    """Rows [stage, shape, parameters] for the model, ending with the total; [] when no model loads."""
    try:
        ckpt = ctx.checkpoint(model)
    except Exception:
        return []
    infos = describe_stages(ckpt.model, ckpt.input_size)
    rows = [[i.name, " x ".join(map(str, i.output_shape)), f"{i.parameters:,}"] for i in infos]
    rows.append(["total", f"input 3 x {ckpt.input_size} x {ckpt.input_size}", f"{sum(i.parameters for i in infos):,}"])
    nets = members(ckpt.model)
    if len(nets) > 1:
        rows.append(["ensemble", f"{len(nets)} networks vote; this page shows network 1", f"{count_parameters(ckpt.model):,}"])
    return rows


def feature_map_tiles(ctx: AppContext, image, model: str | None, layer: str | None,
                      channel: int | float | None = None) -> tuple[list, list[int], str]:
    """Gallery items [(tile (TILE, TILE, 3) uint8, "#channel · mean x")] for the most active channels of
    ``layer`` on ``image``, their channel numbers, and a message ("" when all went well). The chosen ``channel``
    is always among them, marked "★": when it is not one of the most active, it takes the last place."""
    if image is None:
        return [], [], "Pick a photo on the **Upload & explore** tab (or freeze the camera) to see its feature maps."
    try:
        ckpt = ctx.checkpoint(model)
        layer = layer if layer in ckpt.model.conv_stage_names() else ckpt.model.conv_stage_names()[0]
        every = feature_maps(ckpt, preprocess(image, ckpt).tensor, layer, top=1 << 30)  # all, most active first
    except Exception as err:
        return [], [], user_message(err)
    maps = every[:FEATURE_MAPS]
    chosen = int(channel) if channel is not None and np.isfinite(channel) else None
    if chosen is not None and chosen not in {m.channel for m in maps}:
        extra = [m for m in every if m.channel == chosen]
        maps = maps[:FEATURE_MAPS - 1] + extra if extra else maps
    # One colour scale for the whole grid, so brighter really means more active.
    hi = max(float(np.max(m.values)) for m in maps) if maps else 1.0
    tiles = []
    for m in maps:
        norm = np.clip(m.values / hi, 0, 1) if hi > 0 else normalise_map(m.values)
        tile = cv2.resize(heatmap_rgb(norm, cv2.COLORMAP_VIRIDIS), (TILE, TILE), interpolation=cv2.INTER_NEAREST)
        tiles.append((tile, ("★ " if m.channel == chosen else "") + f"#{m.channel} · mean {m.mean:.2f}"))
    return tiles, [m.channel for m in maps], ""


# ---------------------------------------------------------------------------------------------------------------
# The overview: the photo through every stage at once


@lru_cache(maxsize=4)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _map_tile(values: np.ndarray, hi: float) -> np.ndarray:
    norm = np.clip(values / hi, 0, 1) if hi > 0 else normalise_map(values)
    return cv2.resize(heatmap_rgb(norm, cv2.COLORMAP_VIRIDIS), (OVERVIEW_TILE, OVERVIEW_TILE),
                      interpolation=cv2.INTER_NEAREST)


def _input_tiles(pixels: np.ndarray) -> list[np.ndarray]:
    """The network's input and its red, green and blue channels, as overview tiles."""
    size = (OVERVIEW_TILE, OVERVIEW_TILE)
    tiles = [cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)]
    for k in range(3):
        tint = np.zeros_like(pixels)
        tint[..., k] = pixels[..., k]
        tiles.append(cv2.resize(tint, size, interpolation=cv2.INTER_AREA))
    return tiles


def overview_picture(stages: list[StageMaps], pixels: np.ndarray) -> tuple[np.ndarray, dict]:
    """The photo through every stage at once: a first row with the network's input (and its red, green and blue
    channels), then one row per stage with its name, its shape (channels x height x width) and its most active
    feature maps (one colour scale per row; yellow = strong), each labelled with its channel number.

    stages: ``core.explain.stage_overview``; pixels: (S, S, 3) uint8, the input the network sees.
    Returns ((H, W, 3) uint8, layout) with layout = {"grid": the map tiles' cell geometry (plots.cell_at; row 0
    is the input), "stages": [None, stage name, ...] per row, "channels": [[], [channel, ...], ...] per row}.
    """
    from PIL import Image, ImageDraw

    cols = max([OVERVIEW_MAPS, *(len(s.maps) for s in stages)])
    step = OVERVIEW_TILE + OVERVIEW_GAP
    rows = 1 + len(stages)
    width = OVERVIEW_LABEL + cols * step
    height = OVERVIEW_HEADER + rows * step
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 6), "stage: channels x H x W", fill="#444444", font=_font(13))
    draw.text((OVERVIEW_LABEL, 6), "its most active feature maps (yellow = strong): click one", fill="#444444",
              font=_font(13))
    side = pixels.shape[0]
    labelled = [("input", f"3 x {side} x {side}", _input_tiles(pixels), ["photo", "red", "green", "blue"])]
    for s in stages:
        hi = max((float(np.max(m.values)) for m in s.maps), default=1.0)
        labelled.append((s.name, " x ".join(map(str, s.shape)), [_map_tile(m.values, hi) for m in s.maps],
                         [f"#{m.channel}" for m in s.maps]))
    for r, (name, shape, tiles, captions) in enumerate(labelled):
        top = OVERVIEW_HEADER + r * step
        draw.text((4, top + OVERVIEW_TILE // 2 - 18), name, fill="#111111", font=_font(16))
        draw.text((4, top + OVERVIEW_TILE // 2 + 2), shape, fill="#555555", font=_font(13))
        for c, (tile, caption) in enumerate(zip(tiles, captions, strict=True)):
            left = OVERVIEW_LABEL + c * step
            canvas.paste(Image.fromarray(tile), (left, top))
            box = draw.textbbox((0, 0), caption, font=_font(11))
            w, h = box[2] - box[0], box[3] - box[1]
            x0, y0 = left + OVERVIEW_TILE - w - 6, top + OVERVIEW_TILE - h - 6
            draw.rectangle((x0 - 2, y0 - 2, x0 + w + 2, y0 + h + 3), fill="#ffffffcc")
            draw.text((x0, y0 - box[1]), caption, fill="#111111", font=_font(11))
        if r < rows - 1:  # a thin arrow down to the next stage
            mid = OVERVIEW_LABEL // 2
            draw.line((mid, top + OVERVIEW_TILE - 2, mid, top + step + 8), fill="#bbbbbb", width=1)
    grid = {"left": float(OVERVIEW_LABEL), "top": float(OVERVIEW_HEADER), "width": float(cols * step),
            "height": float(rows * step), "rows": rows, "cols": cols}
    layout = {"grid": grid, "stages": [None] + [s.name for s in stages],
              "channels": [[]] + [[m.channel for m in s.maps] for s in stages]}
    return np.asarray(canvas), layout


def overview_pick(layout: dict | None, x: float, y: float) -> tuple[str, int | None] | None:
    """What a click at pixel (x, y) of the overview picks: (stage, channel) on a map, (stage, None) on a stage's
    name or beside its maps, None on the input row, the header or outside."""
    if not layout:
        return None
    grid = layout["grid"]
    row_band = {**grid, "left": 0.0, "width": grid["left"] + grid["width"], "cols": 1}  # the whole row, name included
    hit = cell_at(x, y, row_band)
    if hit is None or layout["stages"][hit[0]] is None:
        return None
    row = hit[0]
    cell = cell_at(x, y, grid)
    channels = layout["channels"][row]
    channel = channels[cell[1]] if cell is not None and cell[1] < len(channels) else None
    return layout["stages"][row], channel


def overview(ctx: AppContext, image, model: str | None) -> tuple[np.ndarray | None, dict, str]:
    """The overview picture of ``image`` for ``model``, its layout (``overview_picture``) and a message ("" when
    all went well)."""
    if image is None:
        return None, {}, ""
    try:
        ckpt = ctx.checkpoint(model)
        seen = preprocess(image, ckpt)
        stages = stage_overview(ckpt, seen.tensor, OVERVIEW_MAPS)
    except Exception as err:
        return None, {}, user_message(err)
    picture, layout = overview_picture(stages, seen.pixels)
    return picture, layout, ""


def filter_tiles(ctx: AppContext, model: str | None) -> list:
    """Gallery items [(patch (~48, ~48, 3) uint8, "filter i")] for the first convolution's filters."""
    try:
        ckpt = ctx.checkpoint(model)
    except Exception:
        return []
    return [(pixelated(f, 48), f"filter {i}") for i, f in enumerate(first_layer_filters(ckpt))]


def channel_images(ctx: AppContext, model: str | None, layer: str | None, channel) -> tuple[list, str]:
    """Gallery items [(image, "class · activation")] for the eval-sample images that excite ``channel`` of
    ``layer`` most, and a message."""
    try:
        ckpt = ctx.checkpoint(model)
        layer = layer if layer in ckpt.model.conv_stage_names() else ckpt.model.conv_stage_names()[0]
        found = top_images(ckpt, layer, int(channel or 0), TOP_IMAGES)
    except Exception as err:
        return [], user_message(err)
    if not found:
        return [], (f"{ckpt.name} has no evaluation sample (eval_sample.zip), so there are no validation images "
                    "to rank.")
    return ([(pixelated(c.pixels, 128), f"{c.label} · {c.activation:.2f}") for c in found],
            f"The {len(found)} validation images that excite channel {int(channel or 0)} of {layer} most.")


def layer_choices(ctx: AppContext, model: str | None) -> list[str]:
    """Conv stage names of the model ([] when no model loads)."""
    try:
        return ctx.checkpoint(model).model.conv_stage_names()
    except Exception:
        return []


def channel_count(ctx: AppContext, model: str | None, layer: str | None) -> int:
    try:
        ckpt = ctx.checkpoint(model)
    except Exception:
        return 1
    infos = {i.name: i.output_shape for i in describe_stages(ckpt.model, ckpt.input_size)}
    return int(infos.get(layer, (1,))[0])


def precompute_channel_indexes(ctx: AppContext) -> threading.Thread:
    """Rank the top images per channel of every checkpoint in a background thread, so the first visitor
    who opens this tab does not wait. Failures are left for the tab to report."""

    def work():
        for path in ctx.store.paths():
            try:
                channel_index(ctx.store.get(path))
            except Exception:  # a broken checkpoint is reported when someone selects it
                continue

    thread = threading.Thread(target=work, name="channel-index", daemon=True)
    thread.start()
    return thread


def channel_box(ctx: AppContext, model: str | None, layer: str | None, channel) -> gr.Number:
    """The Channel box for ``layer``: its range, and ``channel`` clamped into it."""
    top = channel_count(ctx, model, layer) - 1
    return gr.Number(maximum=top, value=min(max(int(channel or 0), 0), top), info=f"0 to {top}")


def build(ctx: AppContext) -> dict:
    """The Inside the CNN tab. It explains the photo chosen on the Upload & explore tab."""
    model0 = ctx.default_model()
    layers = layer_choices(ctx, model0)
    image = ctx.parts.get("explore", {}).get("image")
    if image is None:  # the Explore tab is missing (e.g. replaced): take photos here
        image = photo_input(sources=["upload", "clipboard"], label="Photo", elem_id="inside-image")
    gr.Markdown("Each **stage** turns the image into more, smaller maps of features. The overview shows the current "
                "photo going through all of them at once; click a stage or a map to open it below, with the "
                "validation images that excite that channel most.")
    overview_image = gr.Image(label="The photo through every stage (pick a photo on Upload & explore)",
                              show_label=False, interactive=False, format="png", elem_id="inside-overview",
                              buttons=["fullscreen"])
    layout = gr.State({})  # where the overview's stages and maps are, for clicks
    stages = gr.Dataframe(value=stages_table(ctx, model0), headers=STAGE_HEADERS, interactive=False,
                          label="Stages", elem_id="inside-stages")
    with gr.Row():
        layer = gr.Dropdown(layers, value=layers[0] if layers else None, label="Stage", elem_id="inside-layer")
        channel = finite_number(gr.Number(value=0, precision=0, minimum=0, label="Channel", elem_id="inside-channel"))
    message = gr.Markdown(elem_id="inside-message")
    maps = gr.Gallery(label=f"Feature maps: the {FEATURE_MAPS} most active channels and the chosen one, ★ (yellow = "
                            "strong)", columns=8, height=GALLERY_HEIGHT, allow_preview=False, elem_id="inside-maps")
    with gr.Row():
        with gr.Column():
            top9_message = gr.Markdown(elem_id="inside-top9-message")
            top9 = gr.Gallery(label=f"The {TOP_IMAGES} validation images that excite this channel most", columns=3,
                              height=GALLERY_HEIGHT, allow_preview=False, elem_id="inside-top9")
        filters = gr.Gallery(value=filter_tiles(ctx, model0),
                             label="First layer's filters (grey = 0; learned, or fitted to the data for a whitening stem)",
                             columns=6, height=GALLERY_HEIGHT, allow_preview=False, elem_id="inside-filters")
    shown = gr.State([])  # channel numbers of the tiles in ``maps``, for clicks
    detail = [ctx.model, layer, channel]
    private = {"api_visibility": "private", "concurrency_id": "inside"}

    def on_channel(model, stage, channel_number):
        return channel_images(ctx, model, stage, channel_number)

    def on_photo(photo, model, stage, channel_number):
        return feature_map_tiles(ctx, photo, model, stage, channel_number)

    def on_overview(photo, model):
        picture, where, _ = overview(ctx, photo, model)  # a problem is said once, beside the feature maps
        return picture, where

    # Every path that changes the stage or the channel ends in the same two steps: the maps (which always show the
    # chosen channel) and then the chosen channel's top images. The programmatic paths set stage and channel first,
    # in one step, so the maps never see a stage with the previous stage's channel.
    def refreshed(event):
        return (event.then(on_photo, [image, *detail], [maps, shown, message], **private)
                .then(on_channel, detail, [top9, top9_message], **private))

    gr.on([image.change], on_photo, inputs=[image, *detail], outputs=[maps, shown, message], concurrency_id="inside",
          concurrency_limit=2, trigger_mode="always_last", api_name="feature_maps",
          ).then(on_channel, inputs=detail, outputs=[top9, top9_message], api_visibility="private")
    image.change(on_overview, [image, ctx.model], [overview_image, layout], trigger_mode="always_last", **private)
    gr.on([channel.submit], on_channel, inputs=detail, outputs=[top9, top9_message],
          concurrency_id="inside", trigger_mode="always_last", api_name="channel_top_images")
    channel.submit(on_photo, [image, *detail], [maps, shown, message], trigger_mode="always_last", **private)

    def pick_map(channels, evt: gr.SelectData):
        return channels[evt.index] if channels and 0 <= evt.index < len(channels) else gr.skip()

    maps.select(pick_map, inputs=shown, outputs=channel, api_visibility="private").then(
        on_channel, inputs=detail, outputs=[top9, top9_message], api_visibility="private")

    def pick_overview(where, model, evt: gr.SelectData):
        index = evt.index if isinstance(evt.index, (list, tuple)) and len(evt.index) == 2 else None
        hit = overview_pick(where, *index) if index else None
        if hit is None:
            return gr.skip(), gr.skip()
        stage, picked = hit
        if picked is None:  # a stage's name: its most active channel
            row = where["stages"].index(stage)
            picked = where["channels"][row][0] if where["channels"][row] else 0
        return gr.Dropdown(value=stage), channel_box(ctx, model, stage, picked)

    refreshed(overview_image.select(pick_overview, [layout, ctx.model], [layer, channel], **private))

    def on_stage(model, stage, channel_number):
        return channel_box(ctx, model, stage, channel_number)

    refreshed(layer.input(on_stage, detail, channel, **private))

    def on_model(model, photo):
        lays = layer_choices(ctx, model)
        first = lays[0] if lays else None
        picture, where = on_overview(photo, model)
        return (stages_table(ctx, model), gr.Dropdown(choices=lays, value=first), filter_tiles(ctx, model),
                channel_box(ctx, model, first, 0), picture, where)

    refreshed(ctx.model.change(on_model, [ctx.model, image], [stages, layer, filters, channel, overview_image, layout],
                               **private))
    return {"stages": stages, "layer": layer, "channel": channel, "maps": maps, "top9": top9, "filters": filters,
            "message": message, "overview": overview_image}
