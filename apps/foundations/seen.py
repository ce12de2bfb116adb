"""Convolution and recurrence, seen: the two assumptions that fit networks to images and to sequences.

Convolution: one 3x3 kernel slides over an image, ``y[i, j] = sum_{m,n} w[m, n] x[i + m, j + n]``
(PyTorch's ``conv2d``, which is this cross-correlation; Goodfellow et al. 2016, ch. 9). The kernel is a
classic hand-made one (Sobel edges, blur, sharpen, Laplacian), the learner's own, or one the CNN of the
"Representations" sub-tab learned.

Recurrence: a tiny Elman network (Elman 1990), ``h_t = tanh(W_h h_{t-1} + W_x x_t + b)`` (PyTorch's
``nn.RNN``), learns to read brackets and say how deeply nested it is after each one: a task that needs
memory, since the answer depends on everything read so far. The demo unrolls it over the learner's
sequence and shows every hidden unit's value at every step.
"""
from __future__ import annotations

import functools

import gradio as gr
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from apps.foundations import representations
from shared import limits, live, plots
from shared.checks import as_int
from shared.ui import friendly_errors

KERNELS = {
    "Vertical edges (Sobel)": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Horizontal edges (Sobel)": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "Outline (Laplacian)": [[0, -1, 0], [-1, 4, -1], [0, -1, 0]],
    "Blur (box)": [[1 / 9] * 3] * 3,
    "Sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "Identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
}
CUSTOM = "My own (edit the grid)"
LEARNED = "Learned by your CNN"
KERNEL_CHOICES = (*KERNELS, CUSTOM, LEARNED)
IMAGES = ("Shapes", "A handwritten digit (8×8, enlarged)", "My upload")
SHAPES_PX = 72


@functools.lru_cache(maxsize=1)
def shapes_image() -> np.ndarray:
    """``(72, 72)`` float32 in [0, 1]: a square, a disc, a diagonal bar and the letters "AI", drawn with Pillow."""
    image = Image.new("L", (SHAPES_PX, SHAPES_PX), 0)
    draw = ImageDraw.Draw(image)
    draw.rectangle([6, 6, 30, 30], fill=255)
    draw.ellipse([40, 6, 66, 32], fill=180)
    draw.line([(6, 66), (34, 40)], fill=255, width=4)
    draw.text((42, 40), "AI", fill=255, font=ImageFont.load_default(size=22))
    return np.asarray(image, dtype=np.float32) / 255


def image_to_gray(image: np.ndarray) -> np.ndarray:
    """An uploaded image (``(H, W)`` or ``(H, W, 3|4)``, uint8) to float32 grey in [0, 1], at most
    ``CONV_IMAGE_MAX_PX`` on its longer side. Raises ValueError for an empty image."""
    array = np.asarray(image)
    if array.size == 0 or array.ndim not in (2, 3):
        raise ValueError("That upload is not an image; try a PNG or JPEG.")
    picture = Image.fromarray(array.astype(np.uint8)).convert("L")
    picture.thumbnail((limits.CONV_IMAGE_MAX_PX, limits.CONV_IMAGE_MAX_PX))
    return np.asarray(picture, dtype=np.float32) / 255


def digit_image(index: int) -> np.ndarray:
    """``(32, 32)``: digit ``index`` of scikit-learn's set, each pixel made a 4x4 block."""
    images, _ = representations.load_digits_data()
    return np.kron(images[index % len(images), 0], np.ones((4, 4), dtype=np.float32))


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``(H - 2, W - 2)`` feature map of ``image`` ``(H, W)`` under a 3x3 ``kernel`` (no padding, stride 1)."""
    x = torch.as_tensor(image, dtype=torch.float32)[None, None]  # (1, 1, H, W)
    w = torch.as_tensor(kernel, dtype=torch.float32)[None, None]  # (1, 1, 3, 3)
    return nn.functional.conv2d(x, w)[0, 0].numpy()


def parse_kernel(table) -> np.ndarray:
    """The learner's 3x3 grid (a table of numbers) as float32 ``(3, 3)``. Raises ValueError for text or size."""
    try:
        values = np.asarray(table.values if hasattr(table, "values") else table, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError("Every cell of the kernel must be a number.") from e
    if values.shape != (3, 3):
        raise ValueError(f"The kernel must be 3 rows of 3 numbers, not {values.shape}.")
    if not np.isfinite(values).all() or np.abs(values).max() > limits.CONV_KERNEL_ABS_MAX:
        raise ValueError(f"Kernel values must be numbers between -{limits.CONV_KERNEL_ABS_MAX:g} and "
                         f"{limits.CONV_KERNEL_ABS_MAX:g}.")
    return values.astype(np.float32)


def learned_kernel(run, index: int) -> np.ndarray:
    """Filter ``index`` (1-8) of the first convolution of the learner's digits CNN. Raises ValueError if none."""
    if run is None or not isinstance(run.trainer, representations.DigitsTrainer) or run.trainer.config.model != "CNN":
        raise ValueError("Train a CNN first: in the Representations sub-tab choose Model 'CNN', press Reset, "
                         "then Play for a few seconds.")
    return run.trainer.first_layer_filters()[index - 1]


def convolution_figure(image: np.ndarray, kernel: np.ndarray, title: str) -> Figure:
    """Input, kernel (with its numbers), the feature map, and the feature map after ReLU."""
    feature_map = convolve(image, kernel)
    fig = Figure(figsize=(8.4, 2.6), dpi=80)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.86, wspace=0.08)
    axes = fig.subplots(1, 4)
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"Input {image.shape[1]}×{image.shape[0]}", fontsize=9)
    k = np.abs(kernel).max() + 1e-12
    axes[1].imshow(kernel, cmap="RdBu", vmin=-k, vmax=k)
    for (i, j), v in np.ndenumerate(kernel):
        axes[1].text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=9)
    axes[1].set_title(f"Kernel: {title}", fontsize=9)
    m = np.abs(feature_map).max() + 1e-12
    axes[2].imshow(feature_map, cmap="RdBu", vmin=-m, vmax=m)
    axes[2].set_title("Feature map (blue +, red -)", fontsize=9)
    axes[3].imshow(np.maximum(feature_map, 0), cmap="gray", vmin=0, vmax=max(float(feature_map.max()), 1e-12))
    axes[3].set_title("After ReLU", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


@friendly_errors
def show_convolution(source, digit_index, upload, kernel_name, custom, filter_index, digits_key):
    if source == IMAGES[2]:
        if upload is None:
            raise ValueError("Upload an image first, or pick 'Shapes'.")
        image = image_to_gray(upload)
    elif source == IMAGES[1]:
        image = digit_image(as_int("Digit", digit_index, 0, 1796))
    else:
        image = shapes_image()
    if kernel_name == CUSTOM:
        kernel, title = parse_kernel(custom), "yours"
    elif kernel_name == LEARNED:
        index = as_int("Filter", filter_index, 1, 8)
        kernel, title = learned_kernel(representations.STORE.get(digits_key), index), f"CNN filter {index}"
    elif kernel_name in KERNELS:
        kernel, title = np.asarray(KERNELS[kernel_name], dtype=np.float32), kernel_name
    else:
        raise ValueError(f"Unknown kernel {kernel_name!r}.")
    with live.one_thread():
        figure = convolution_figure(image, kernel, title)
    weights = image.size * (image.shape[0] - 2) * (image.shape[1] - 2)
    note = (f"The same 9 weights are used at all {(image.shape[0] - 2) * (image.shape[1] - 2):,} positions. "
            f"A fully connected layer from this image to a map of that size would need {weights:,} weights.")
    return figure, note


# ---------------------------------------------------------------------------------------------
# Recurrence
# ---------------------------------------------------------------------------------------------

SYMBOLS = "()"
TRAIN_LENGTH = 24


class BracketRNN(nn.Module):
    """``h_t = tanh(W_h h_{t-1} + W_x x_t + b)`` over one-hot brackets, then ``depth_t = w^T h_t + c``."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.rnn = nn.RNN(len(SYMBOLS), hidden_size, nonlinearity="tanh", batch_first=True)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(B, T, 2)`` one-hot -> ``(depth (B, T), hidden states (B, T, H))``."""
        h, _ = self.rnn(x)
        return self.readout(h)[..., 0], h


def random_brackets(batch: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random bracket sequences that never close more than they opened: one-hot ``(B, T, 2)`` and depth ``(B, T)``."""
    opens = torch.rand(batch, length, generator=generator) < 0.5
    x, depth = torch.zeros(batch, length, 2), torch.zeros(batch, length)
    d = torch.zeros(batch)
    for t in range(length):
        is_open = opens[:, t] | (d == 0)
        d = d + torch.where(is_open, 1.0, -1.0)
        x[:, t, 0], x[:, t, 1] = is_open.float(), (~is_open).float()
        depth[:, t] = d
    return x, depth


@functools.lru_cache(maxsize=16)
def trained_rnn(hidden_size: int, steps: int, seed: int) -> tuple[BracketRNN, list[float]]:
    """A :class:`BracketRNN` trained ``steps`` Adam steps (batch 32, length 24, MSE on the depth), and its losses.

    Cached: the same settings give the same network without training again.
    """
    generator = torch.Generator().manual_seed(seed)
    model = BracketRNN(hidden_size)
    for p in model.parameters():
        bound = 1 / np.sqrt(hidden_size)
        nn.init.uniform_(p, -bound, bound, generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(steps):
        x, depth = random_brackets(32, TRAIN_LENGTH, generator)
        loss = nn.functional.mse_loss(model(x)[0], depth)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


def encode(sequence: str) -> tuple[torch.Tensor, np.ndarray]:
    """A bracket string to one-hot ``(1, T, 2)`` and the true depth after each bracket ``(T,)``.

    Raises:
        ValueError: empty, too long, or a character other than ( and ) (spaces are ignored).
    """
    text = "".join(sequence.split()) if sequence else ""
    if not text:
        raise ValueError("Type a sequence of brackets, such as (()(())).")
    if len(text) > limits.RNN_SEQUENCE_MAX_CHARS:
        raise ValueError(f"The sequence has {len(text)} brackets; the limit is {limits.RNN_SEQUENCE_MAX_CHARS}.")
    wrong = sorted(set(text) - set(SYMBOLS))
    if wrong:
        raise ValueError(f"Use only ( and ); found {' '.join(repr(c) for c in wrong)}.")
    x = torch.zeros(1, len(text), 2)
    for t, c in enumerate(text):
        x[0, t, SYMBOLS.index(c)] = 1
    depth = np.cumsum([1 if c == "(" else -1 for c in text])
    return x, depth


def unroll(sequence: str, hidden_size: int, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
    """Run the (trained) RNN over ``sequence``: ``(hidden (T, H), predicted depth (T,), true depth (T,), losses)``."""
    x, depth = encode(sequence)
    with live.one_thread():  # a tiny network: threads cost more than they save (see shared.live)
        model, losses = trained_rnn(hidden_size, steps, seed)
        with torch.no_grad():
            predicted, hidden = model(x)
    return hidden[0].numpy(), predicted[0].numpy(), depth, losses


def recurrence_figure(sequence: str, hidden: np.ndarray, predicted: np.ndarray, depth: np.ndarray, steps: int) -> Figure:
    """Top: every hidden unit over time (a heat map). Bottom: the depth the network reads out, and the truth."""
    text = "".join(sequence.split())
    fig = Figure(figsize=(8.4, 4.2), dpi=80)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.1, top=0.92, hspace=0.35)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.imshow(hidden.T, cmap="RdBu", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    top.set_yticks(range(hidden.shape[1]))
    top.set_yticklabels([f"h{i + 1}" for i in range(hidden.shape[1])], fontsize=7)
    top.set_title(f"Hidden state h_t after each bracket (blue +1, red -1) · trained {steps} steps", fontsize=9)
    bottom.plot(depth, "k-o", ms=3, lw=1, label="true depth")
    bottom.plot(predicted, "-o", color="#e4572e", ms=3, lw=1.5, label="network's reading")
    bottom.set_xticks(range(len(text)))
    bottom.set_xticklabels(list(text), fontsize=8)
    bottom.legend(fontsize=8, loc="upper left")
    bottom.grid(alpha=0.3)
    if len(text) > TRAIN_LENGTH:  # where the sequences it trained on ended
        bottom.axvline(TRAIN_LENGTH - 0.5, color="#9aa4b2", ls=":", lw=1)
    return fig


@friendly_errors
def show_recurrence(sequence, hidden_size, steps, seed):
    hidden_size = as_int("Hidden units", hidden_size, limits.RNN_HIDDEN_MIN, limits.RNN_HIDDEN_MAX)
    steps = as_int("Training steps", steps, 0, limits.RNN_TRAIN_STEPS_MAX)
    seed = as_int("Seed", seed, 0, limits.SEED_MAX)
    hidden, predicted, depth, losses = unroll(sequence, hidden_size, steps, seed)
    error = float(np.abs(predicted - depth).mean())
    note = (f"Mean error in the depth it reads: **{error:.2f}** brackets. It trained on sequences of "
            f"{TRAIN_LENGTH} brackets (dotted line on longer ones); beyond that it never had to remember.")
    return recurrence_figure(sequence, hidden, predicted, depth, steps), note


def build_seen(digits_controls) -> None:
    """Lay out the convolution and recurrence sub-tab. ``digits_controls``: the Representations tab's
    live controls, whose run key gives access to the learner's CNN filters."""
    gr.Markdown("### Convolution: one small kernel, slid over the whole image")
    with gr.Row():
        source = gr.Radio(list(IMAGES), value=IMAGES[0], label="Image")
        digit_index = gr.Number(value=0, precision=0, minimum=0, maximum=1796, label="Digit number (0-1796)")
        upload = gr.Image(label="Upload", type="numpy", height=120, sources=["upload"])
    with gr.Row():
        kernel_name = gr.Dropdown(list(KERNEL_CHOICES), value=KERNEL_CHOICES[0], label="Kernel", scale=2,
                                  min_width=260)  # "Horizontal edges (Sobel)" shows whole
        filter_index = gr.Slider(1, 8, value=1, step=1, label="CNN filter (learned kernel)")
    custom = gr.Dataframe(value=[[0, -1, 0], [-1, 4, -1], [0, -1, 0]], headers=["", " ", "  "],
                          datatype="number", row_count=(3, "fixed"), column_count=(3, "fixed"),
                          label="My own kernel (choose 'My own' above)", interactive=True)
    conv_button = gr.Button("Apply the kernel", variant="primary")
    conv_plot = gr.Plot(label="Convolution", format="png", show_label=False,
                        elem_classes=plots.KEEP_COLOURS)  # pictures: white ink stays white
    conv_note = gr.Markdown()
    gr.Markdown("### Recurrence: a network with a memory, unrolled over a sequence")
    with gr.Row():
        sequence = gr.Textbox(value="(()(()))((()))", label="Brackets", max_length=limits.RNN_SEQUENCE_MAX_CHARS,
                              scale=2)
        hidden_size = gr.Slider(limits.RNN_HIDDEN_MIN, limits.RNN_HIDDEN_MAX, value=4, step=1, label="Hidden units")
        steps = gr.Slider(0, limits.RNN_TRAIN_STEPS_MAX, value=300, step=50, label="Training steps",
                          info="0 = random weights")
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=limits.SEED_MAX, label="Seed")
    rnn_button = gr.Button("Unroll the RNN", variant="primary")
    rnn_plot = gr.Plot(label="Recurrence", format="png", show_label=False)
    rnn_note = gr.Markdown()

    conv_inputs = [source, digit_index, upload, kernel_name, custom, filter_index, digits_controls.key]
    conv_button.click(show_convolution, conv_inputs, [conv_plot, conv_note], api_name="convolution")
    gr.on([source.input, kernel_name.input, filter_index.release, digit_index.submit, upload.upload],
          show_convolution, conv_inputs, [conv_plot, conv_note], api_visibility="private",
          trigger_mode="always_last")
    rnn_inputs = [sequence, hidden_size, steps, seed]
    rnn_button.click(show_recurrence, rnn_inputs, [rnn_plot, rnn_note], api_name="recurrence")
    gr.on([sequence.submit, hidden_size.release, steps.release], show_recurrence, rnn_inputs, [rnn_plot, rnn_note],
          api_visibility="private", trigger_mode="always_last")
