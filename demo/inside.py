"""Inside the CNN: every stage with its output shape and size, the feature maps of a chosen stage for the
current photo, the first layer's learned filters, and the validation images that excite a channel most.
"""

from __future__ import annotations

import threading

import cv2
import gradio as gr
import numpy as np

from core.explain import TOP_IMAGES, channel_index, feature_maps, first_layer_filters, heatmap_rgb, normalise_map, pixelated, top_images
from core.models import count_parameters, describe_stages, members
from core.predict import preprocess
from demo.common import AppContext, finite_number, photo_input, user_message

FEATURE_MAPS = 16  # the most active channels shown
TILE = 96  # pixels per feature-map tile
STAGE_HEADERS = ["stage", "output shape (channels x height x width)", "parameters"]


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


def feature_map_tiles(ctx: AppContext, image, model: str | None, layer: str | None) -> tuple[list, list[int], str]:
    """Gallery items [(tile (TILE, TILE, 3) uint8, "#channel · mean x")] for the most active channels of
    ``layer`` on ``image``, their channel numbers, and a message ("" when all went well)."""
    if image is None:
        return [], [], "Pick a photo on the **Upload & explore** tab (or freeze the camera) to see its feature maps."
    try:
        ckpt = ctx.checkpoint(model)
        layer = layer if layer in ckpt.model.conv_stage_names() else ckpt.model.conv_stage_names()[0]
        maps = feature_maps(ckpt, preprocess(image, ckpt).tensor, layer, FEATURE_MAPS)
    except Exception as err:
        return [], [], user_message(err)
    # One colour scale for the whole grid, so brighter really means more active.
    hi = max(float(np.max(m.values)) for m in maps) if maps else 1.0
    tiles = []
    for m in maps:
        norm = np.clip(m.values / hi, 0, 1) if hi > 0 else normalise_map(m.values)
        tile = cv2.resize(heatmap_rgb(norm, cv2.COLORMAP_VIRIDIS), (TILE, TILE), interpolation=cv2.INTER_NEAREST)
        tiles.append((tile, f"#{m.channel} · mean {m.mean:.2f}"))
    return tiles, [m.channel for m in maps], ""


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


def build(ctx: AppContext) -> dict:
    """The Inside the CNN tab. It explains the photo chosen on the Upload & explore tab."""
    model0 = ctx.default_model()
    layers = layer_choices(ctx, model0)
    image = ctx.parts.get("explore", {}).get("image")
    if image is None:  # the Explore tab is missing (e.g. replaced): take photos here
        image = photo_input(sources=["upload", "clipboard"], label="Photo", elem_id="inside-image")
    gr.Markdown("Each **stage** turns the image into more, smaller maps of features. Pick a stage to see what its "
                "most active channels respond to in the current photo; click a map to see the validation images "
                "that excite that channel most.")
    stages = gr.Dataframe(value=stages_table(ctx, model0), headers=STAGE_HEADERS, interactive=False,
                          label="Stages", elem_id="inside-stages")
    with gr.Row():
        layer = gr.Dropdown(layers, value=layers[0] if layers else None, label="Stage", elem_id="inside-layer")
        channel = finite_number(gr.Number(value=0, precision=0, minimum=0, label="Channel", elem_id="inside-channel"))
    message = gr.Markdown(elem_id="inside-message")
    maps = gr.Gallery(label=f"Feature maps: the {FEATURE_MAPS} most active channels (yellow = strong)", columns=8,
                      height="auto", allow_preview=False, elem_id="inside-maps")
    with gr.Row():
        with gr.Column():
            top9_message = gr.Markdown(elem_id="inside-top9-message")
            top9 = gr.Gallery(label=f"The {TOP_IMAGES} validation images that excite this channel most", columns=3,
                              height="auto", allow_preview=False, elem_id="inside-top9")
        filters = gr.Gallery(value=filter_tiles(ctx, model0),
                             label="First layer's filters (grey = 0; learned, or fitted to the data for a whitening stem)",
                             columns=6, height="auto", allow_preview=False, elem_id="inside-filters")
    shown = gr.State([])  # channel numbers of the tiles in ``maps``, for clicks

    def on_channel(model, stage, channel_number):
        return channel_images(ctx, model, stage, channel_number)

    def on_photo(photo, model, stage):
        return feature_map_tiles(ctx, photo, model, stage)

    gr.on([image.change, layer.change, ctx.model.change], on_photo, inputs=[image, ctx.model, layer],
          outputs=[maps, shown, message], concurrency_id="inside", concurrency_limit=2, trigger_mode="always_last",
          api_name="feature_maps",
          ).then(on_channel, inputs=[ctx.model, layer, channel], outputs=[top9, top9_message], api_visibility="private")
    gr.on([channel.submit], on_channel, inputs=[ctx.model, layer, channel], outputs=[top9, top9_message],
          concurrency_id="inside", trigger_mode="always_last", api_name="channel_top_images")

    def pick_map(channels, evt: gr.SelectData):
        return channels[evt.index] if channels and 0 <= evt.index < len(channels) else gr.skip()

    maps.select(pick_map, inputs=shown, outputs=channel, api_visibility="private").then(
        on_channel, inputs=[ctx.model, layer, channel], outputs=[top9, top9_message], api_visibility="private")

    def on_model(model):
        lays = layer_choices(ctx, model)
        return (stages_table(ctx, model), gr.Dropdown(choices=lays, value=lays[0] if lays else None),
                filter_tiles(ctx, model), 0)

    ctx.model.change(on_model, inputs=ctx.model, outputs=[stages, layer, filters, channel], api_visibility="private")

    def clamp_channel(model, lay, ch):
        top = channel_count(ctx, model, lay) - 1
        return gr.Number(maximum=top, value=min(int(ch or 0), top), info=f"0 to {top}")

    layer.change(clamp_channel, inputs=[ctx.model, layer, channel], outputs=channel, api_visibility="private")
    return {"stages": stages, "layer": layer, "channel": channel, "maps": maps, "top9": top9, "filters": filters,
            "message": message}
