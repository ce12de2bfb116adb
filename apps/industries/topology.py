"""Generative design: topology optimisation with the SIMP method, iteration by iteration.

The design domain is a grid of square elements, each with a density x_e in [0, 1]. SIMP (Solid
Isotropic Material with Penalisation; Bendsøe 1989, Bendsøe and Sigmund 2003) gives element e the
stiffness E_e = E_min + x_e^p (E_0 - E_min) and minimises the compliance (the work done by the load,
low = stiff)

    min_x  c(x) = U^T K(x) U = sum_e E_e(x_e) u_e^T k_0 u_e
    s.t.   K(x) U = F,   sum_e x_e / N = f (the volume fraction),   0 <= x_e <= 1.

This follows Andreassen, Clausen, Schevenels, Lazarov and Sigmund (2011), "Efficient topology
optimization in MATLAB using 88 lines of code" (top88) line by line: bilinear Q4 plane-stress elements,
the same node and degree-of-freedom numbering, a sensitivity filter (Sigmund 1997) or a density
filter (Bruns and Tortorelli 2001; Bourdin 2001), and the optimality-criteria (OC) update with a
bisection on the volume constraint's Lagrange multiplier. The linear system is solved with
``scipy.sparse`` (SuperLU) instead of MATLAB's backslash.

Coordinates for the learner: x from the left edge, y from the bottom edge, both as fractions of the
domain; forces point by an angle in degrees (0 = right, 90 = up, -90 = down).
"""
from __future__ import annotations

import functools
import io
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import gradio as gr
import numpy as np

from shared import limits
from shared.checks import as_float, as_int
from shared.stopping import StopFlags

# Supports, by name: (nodes along the edge or corner, which degrees of freedom are fixed).
SUPPORTS = {
    "Left edge clamped": ("left", "xy"),
    "Right edge clamped": ("right", "xy"),
    "Left edge on rollers (x fixed)": ("left", "x"),
    "Bottom-left corner pinned": ("bottom-left", "xy"),
    "Bottom-right corner pinned": ("bottom-right", "xy"),
    "Bottom-right corner on a roller (y fixed)": ("bottom-right", "y"),
}
FILTERS = ("Density filter", "Sensitivity filter")


@dataclass(frozen=True)
class Problem:
    """A topology-optimisation problem on an ``nelx`` x ``nely`` grid of unit square elements."""

    nelx: int = 60
    nely: int = 30
    volfrac: float = 0.5
    supports: tuple[str, ...] = ("Left edge clamped",)
    load_x: float = 1.0  # fraction of the width, from the left
    load_y: float = 0.5  # fraction of the height, from the bottom
    load_angle_deg: float = -90.0
    penal: float = 3.0
    rmin: float = 1.5  # filter radius, in elements
    filter: str = "Density filter"
    max_iterations: int = 60


# Presets (top88's own examples, plus a bridge): name -> the fields that differ from the defaults.
PRESETS = {
    "Cantilever": dict(nelx=60, nely=30, supports=("Left edge clamped",), load_x=1.0, load_y=0.5,
                       load_angle_deg=-90.0, volfrac=0.5),
    # Half of a simply supported beam, cut at its axis of symmetry (top88's default example).
    "MBB beam": dict(nelx=60, nely=20, supports=("Left edge on rollers (x fixed)",
                                                 "Bottom-right corner on a roller (y fixed)"),
                     load_x=0.0, load_y=1.0, load_angle_deg=-90.0, volfrac=0.5),
    "Bridge": dict(nelx=80, nely=40, supports=("Bottom-left corner pinned", "Bottom-right corner pinned"),
                   load_x=0.5, load_y=0.0, load_angle_deg=-90.0, volfrac=0.3),
}


def make_problem(nelx, nely, volfrac, supports, load_x, load_y, load_angle_deg, penal, rmin, filter_name,
                 max_iterations) -> Problem:
    """Check raw UI / API values and return a :class:`Problem`.

    Raises:
        ValueError: a number outside ``shared.limits``, an unknown support or filter, a load outside the
            domain, or supports that leave the structure free to move as a rigid body.
    """
    if isinstance(supports, str):
        supports = [supports]
    supports = tuple(supports or ())
    unknown = [s for s in supports if s not in SUPPORTS]
    if unknown:
        raise ValueError(f"Unknown support {unknown[0]!r}; choose from: {', '.join(SUPPORTS)}.")
    if filter_name not in FILTERS:
        raise ValueError(f"Filter must be one of {', '.join(FILTERS)}, not {filter_name!r}.")
    for name, value in (("Load position x", load_x), ("Load position y", load_y)):
        try:
            inside = 0.0 <= float(value) <= 1.0
        except (TypeError, ValueError):
            inside = False
        if not inside:
            raise ValueError(f"{name} must be inside the domain: a fraction from 0 to 1, not {value!r}.")
    problem = Problem(
        nelx=as_int("Width (elements)", nelx, limits.TOPOLOGY_NELX_MIN, limits.TOPOLOGY_NELX_MAX),
        nely=as_int("Height (elements)", nely, limits.TOPOLOGY_NELY_MIN, limits.TOPOLOGY_NELY_MAX),
        volfrac=as_float("Volume fraction", volfrac, limits.TOPOLOGY_VOLFRAC_MIN, limits.TOPOLOGY_VOLFRAC_MAX),
        supports=supports,
        load_x=float(load_x),
        load_y=float(load_y),
        load_angle_deg=as_float("Load direction", load_angle_deg, -180.0, 180.0),
        penal=as_float("Penalty p", penal, limits.TOPOLOGY_PENAL_MIN, limits.TOPOLOGY_PENAL_MAX),
        rmin=as_float("Filter radius", rmin, limits.TOPOLOGY_RMIN_MIN, limits.TOPOLOGY_RMIN_MAX),
        filter=filter_name,
        max_iterations=as_int("Iterations", max_iterations, 1, limits.TOPOLOGY_ITERATIONS_MAX),
    )
    fixed_dofs(problem)  # raises for impossible supports
    load_vector(problem)  # raises for a load that acts only on fixed points
    return problem


def preset(name: str, **overrides) -> Problem:
    """A preset problem (``"Cantilever"``, ``"MBB beam"``, ``"Bridge"``), validated."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose from {', '.join(PRESETS)}.")
    p = {**Problem().__dict__, **PRESETS[name], **overrides}
    return make_problem(p["nelx"], p["nely"], p["volfrac"], p["supports"], p["load_x"], p["load_y"],
                        p["load_angle_deg"], p["penal"], p["rmin"], p["filter"], p["max_iterations"])


# --- the finite-element model (top88 numbering: node (i, j) = (nely + 1) * i + j, j counted from the top) ---

def element_stiffness(nu: float = 0.3) -> np.ndarray:
    """``(8, 8)`` stiffness matrix of a unit square Q4 plane-stress element with E = 1 (top88, lines 8-13)."""
    k = np.array([1 / 2 - nu / 6, 1 / 8 + nu / 8, -1 / 4 - nu / 12, -1 / 8 + 3 * nu / 8,
                  -1 / 4 + nu / 12, -1 / 8 - nu / 8, nu / 6, 1 / 8 - 3 * nu / 8])
    order = [[0, 1, 2, 3, 4, 5, 6, 7], [1, 0, 7, 6, 5, 4, 3, 2], [2, 7, 0, 5, 6, 3, 4, 1],
             [3, 6, 5, 0, 7, 2, 1, 4], [4, 5, 6, 7, 0, 1, 2, 3], [5, 4, 3, 2, 1, 0, 7, 6],
             [6, 3, 4, 1, 2, 7, 0, 5], [7, 2, 1, 4, 3, 6, 5, 0]]
    return k[np.array(order)] / (1 - nu**2)


def element_dofs(nelx: int, nely: int) -> np.ndarray:
    """``(nelx * nely, 8)`` int64: each element's 8 degrees of freedom, counter-clockwise from its lower left
    node (top88, lines 14-16; 0-based). Elements are numbered column by column, top to bottom."""
    ex, ey = np.meshgrid(np.arange(nelx), np.arange(nely), indexing="ij")
    n1 = ((nely + 1) * ex + ey).ravel()  # upper-left node of each element
    n2 = ((nely + 1) * (ex + 1) + ey).ravel()  # upper-right node
    return np.stack([2 * n1 + 2, 2 * n1 + 3, 2 * n2 + 2, 2 * n2 + 3, 2 * n2, 2 * n2 + 1, 2 * n1, 2 * n1 + 1], 1)


def _support_nodes(where: str, nelx: int, nely: int) -> np.ndarray:
    node = lambda i, j: (nely + 1) * i + j  # noqa: E731 - i from the left, j from the top
    if where == "left":
        return np.array([node(0, j) for j in range(nely + 1)])
    if where == "right":
        return np.array([node(nelx, j) for j in range(nely + 1)])
    if where == "bottom-left":
        return np.array([node(0, nely)])
    return np.array([node(nelx, nely)])  # bottom-right


def fixed_dofs(problem: Problem) -> np.ndarray:
    """The fixed degrees of freedom, sorted int64.

    Raises:
        ValueError: the supports cannot hold the structure still. In 2-D a body has three rigid motions
            (slide in x, slide in y, rotate); the fixed degrees of freedom must stop all three, i.e. the
            ``(n_fixed, 3)`` matrix of rigid motions evaluated at them must have rank 3.
    """
    if not problem.supports:
        raise ValueError("Choose at least one support: a structure held by nothing just flies away under the load.")
    dofs, rows = [], []
    for name in problem.supports:
        where, directions = SUPPORTS[name]
        for n in _support_nodes(where, problem.nelx, problem.nely):
            x, y = n // (problem.nely + 1), problem.nely - n % (problem.nely + 1)
            if "x" in directions:
                dofs.append(2 * n)
                rows.append((1.0, 0.0, -y))  # rigid motion (a, b, c): u = a - c y, v = b + c x
            if "y" in directions:
                dofs.append(2 * n + 1)
                rows.append((0.0, 1.0, x))
    if np.linalg.matrix_rank(np.array(rows)) < 3:
        raise ValueError(
            "These supports cannot hold the structure still: it could slide or rotate as a whole, so the "
            "problem has no solution. Add a support (e.g. clamp an edge, or pin a second corner)."
        )
    return np.unique(np.array(dofs, dtype=np.int64))


def load_node(problem: Problem) -> int:
    """The node nearest to the load position."""
    i = round(problem.load_x * problem.nelx)
    j = round((1.0 - problem.load_y) * problem.nely)
    return (problem.nely + 1) * i + j


def load_vector(problem: Problem) -> np.ndarray:
    """``(2 * (nelx + 1) * (nely + 1),)`` float64: a unit force at the load node, in the load's direction.

    Raises:
        ValueError: the force acts only along fixed degrees of freedom (it would do no work).
    """
    n_dofs = 2 * (problem.nelx + 1) * (problem.nely + 1)
    f = np.zeros(n_dofs)
    n = load_node(problem)
    angle = math.radians(problem.load_angle_deg)
    f[2 * n], f[2 * n + 1] = math.cos(angle), math.sin(angle)
    f[np.abs(f) < 1e-12] = 0.0
    free = np.ones(n_dofs, bool)
    free[fixed_dofs(problem)] = False
    if not np.any(f[free]):
        raise ValueError("The load sits on a support, pushing only where the structure is fixed. "
                         "Move the load or change its direction.")
    return f


def filter_matrix(nelx: int, nely: int, rmin: float):
    """The filter weights ``H`` (sparse ``(N, N)``, H_ij = max(0, rmin - dist(i, j))) and their row sums ``Hs``
    ``(N,)`` (top88, lines 25-42), built without Python loops over elements."""
    from scipy.sparse import coo_matrix

    r = math.ceil(rmin) - 1
    ex, ey = np.meshgrid(np.arange(nelx), np.arange(nely), indexing="ij")
    ex, ey = ex.ravel(), ey.ravel()
    rows, cols, vals = [], [], []
    for dx in range(-r, r + 1):
        for dy in range(-r, r + 1):
            weight = rmin - math.hypot(dx, dy)
            if weight <= 0:
                continue
            ok = (ex + dx >= 0) & (ex + dx < nelx) & (ey + dy >= 0) & (ey + dy < nely)
            rows.append((ex * nely + ey)[ok])
            cols.append(((ex + dx) * nely + ey + dy)[ok])
            vals.append(np.full(int(ok.sum()), weight))
    n = nelx * nely
    H = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    return H, np.asarray(H.sum(1)).ravel()


@dataclass
class Iteration:
    """One SIMP iteration: ``densities`` float64 ``(nely, nelx)`` (row 0 = top), compliance (work of the unit
    load, in units of E_0 = 1 and unit element size), volume (mean physical density), the largest density change."""

    iteration: int
    densities: np.ndarray
    compliance: float
    volume: float
    change: float


def optimise(problem: Problem, e_min: float = 1e-9, move: float = 0.2) -> Iterator[Iteration]:
    """Run SIMP (top88's main loop), yielding after every iteration.

    Stops after ``problem.max_iterations`` or when no density changes by more than 0.01 (top88's test).
    The yielded compliance is that of the densities the iteration started from (as top88 prints it).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    nelx, nely, penal, volfrac = problem.nelx, problem.nely, problem.penal, problem.volfrac
    density_filter = problem.filter == "Density filter"
    n_el, n_dofs = nelx * nely, 2 * (nelx + 1) * (nely + 1)
    KE = element_stiffness()
    edof = element_dofs(nelx, nely)  # (N, 8)
    iK = np.repeat(edof, 8, axis=1).ravel()  # kron(edofMat, ones(8, 1))' in top88
    jK = np.tile(edof, (1, 8)).ravel()
    H, Hs = filter_matrix(nelx, nely, problem.rmin)
    F = load_vector(problem)
    free = np.setdiff1d(np.arange(n_dofs), fixed_dofs(problem))
    # Assemble only the free rows and columns (top88 slices K(freedofs, freedofs) after assembly).
    index = np.full(n_dofs, -1)
    index[free] = np.arange(len(free))
    keep = (index[iK] >= 0) & (index[jK] >= 0)
    iK_free, jK_free = index[iK[keep]], index[jK[keep]]
    U = np.zeros(n_dofs)

    x = np.full(n_el, volfrac)
    x_phys = x.copy()
    for it in range(1, problem.max_iterations + 1):
        # Finite-element analysis (top88, lines 54-57)
        stiffness = e_min + x_phys**penal * (1.0 - e_min)  # (N,) E_e
        sK = (KE.ravel()[None, :] * stiffness[:, None]).ravel()[keep]
        K = coo_matrix((sK, (iK_free, jK_free)), shape=(len(free), len(free))).tocsc()  # duplicates are summed
        U[free] = spsolve(K, F[free], permc_spec="MMD_AT_PLUS_A")  # K is symmetric: order the pattern of K + K^T
        # Objective and sensitivities (lines 59-62)
        ue = U[edof]  # (N, 8)
        ce = np.einsum("ij,jk,ik->i", ue, KE, ue)  # u_e^T k_0 u_e
        compliance = float((stiffness * ce).sum())
        dc = -penal * (1.0 - e_min) * x_phys ** (penal - 1) * ce
        dv = np.ones(n_el)
        # Filtering (lines 64-68)
        if density_filter:
            dc = H @ (dc / Hs)
            dv = H @ (dv / Hs)
        else:
            dc = (H @ (x * dc)) / Hs / np.maximum(1e-3, x)
        # Optimality-criteria update with bisection on the Lagrange multiplier (lines 70-76)
        l1, l2 = 0.0, 1e9
        while (l2 - l1) / (l1 + l2) > 1e-3:
            lmid = 0.5 * (l1 + l2)
            x_new = np.clip(x * np.sqrt(np.maximum(-dc, 0.0) / dv / lmid), x - move, x + move).clip(0.0, 1.0)
            x_phys_new = (H @ x_new) / Hs if density_filter else x_new
            if x_phys_new.mean() > volfrac:
                l1 = lmid
            else:
                l2 = lmid
        change = float(np.abs(x_new - x).max())
        volume = float(x_phys.mean())
        yield Iteration(it, x_phys.reshape(nelx, nely).T.copy(), compliance, volume, change)
        x, x_phys = x_new, x_phys_new
        if change < 0.01:
            return


# --- pictures -----------------------------------------------------------------------------------------

def render(problem: Problem, densities: np.ndarray, width_px: int = 480) -> np.ndarray:
    """The design as an RGB image ``(H, W, 3)`` uint8: material black on white, supports blue, the load red.

    ``densities``: ``(nely, nelx)`` in [0, 1], row 0 at the top.
    """
    from PIL import Image, ImageDraw

    scale = max(2, width_px // problem.nelx)
    margin = 6 * scale  # room for the load arrow at an edge
    grey = (255 * (1.0 - np.clip(densities, 0, 1))).astype(np.uint8)
    img = Image.fromarray(grey).resize((problem.nelx * scale, problem.nely * scale), Image.NEAREST).convert("RGB")
    canvas = Image.new("RGB", (img.width + 2 * margin, img.height + 2 * margin), (245, 246, 250))
    canvas.paste(img, (margin, margin))
    draw = ImageDraw.Draw(canvas)
    to_px = lambda i, j: (margin + i * scale, margin + j * scale)  # noqa: E731 - node (i from left, j from top)
    for name in problem.supports:
        where, directions = SUPPORTS[name]
        for n in _support_nodes(where, problem.nelx, problem.nely):
            px, py = to_px(n // (problem.nely + 1), n % (problem.nely + 1))
            r = max(2, scale // 2 + 1)
            if directions == "xy":
                draw.rectangle([px - r, py - r, px + r, py + r], fill=(40, 90, 220))
            else:
                draw.ellipse([px - r, py - r, px + r, py + r], outline=(40, 90, 220), width=2)
    n = load_node(problem)
    px, py = to_px(n // (problem.nely + 1), n % (problem.nely + 1))
    angle = math.radians(problem.load_angle_deg)
    length = 5 * scale
    tail = (px - length * math.cos(angle), py + length * math.sin(angle))  # the arrow ends at the load node
    draw.line([tail, (px, py)], fill=(220, 40, 40), width=max(2, scale // 2))
    head = 2.5 * scale
    for side in (2.6, -2.6):
        draw.line([(px, py), (px + head * math.cos(angle + side), py - head * math.sin(angle + side))],
                  fill=(220, 40, 40), width=max(2, scale // 2))
    return np.asarray(canvas)


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# The sub-tab
# ---------------------------------------------------------------------------------------------

CONCURRENCY_ID = "industries_topology"
STOPS = StopFlags()  # the Stop button's flags, one per session


def _curve(history: list[tuple[int, float]]):
    import pandas as pd

    return pd.DataFrame(history, columns=["iteration", "compliance"])


def _preset_values(name: str) -> list:
    p = preset(name)
    return [p.nelx, p.nely, p.volfrac, list(p.supports), p.load_x, p.load_y, p.load_angle_deg]


def build_topology() -> None:
    from shared.ui import escape_markdown, friendly_errors, on_page_load

    @friendly_errors
    def optimise_ui(nelx, nely, volfrac, supports, load_x, load_y, load_angle_deg, penal, rmin, filter_name,
                    max_iterations, request: gr.Request | None = None):
        problem = make_problem(nelx, nely, volfrac, supports, load_x, load_y, load_angle_deg, penal, rmin,
                               filter_name, max_iterations)
        history: list[tuple[int, float]] = []
        start = last = time.perf_counter()
        with STOPS.running(request) as stop:
            for step in optimise(problem):
                history.append((step.iteration, step.compliance))
                now = time.perf_counter()
                stopped = stop.is_set()  # the Stop button: show this iteration's design, then end
                done = step.change < 0.01 or step.iteration == problem.max_iterations or stopped
                if now - last >= limits.TOPOLOGY_UPDATE_S or done or step.iteration == 1:
                    last = now
                    rate = step.iteration / max(now - start, 1e-6)
                    status = (f"Iteration **{step.iteration}** of up to {problem.max_iterations} · compliance "
                              f"**{step.compliance:.4g}** · volume {step.volume:.3f} (target {problem.volfrac:g}) · "
                              f"largest change {step.change:.3f} · {rate:.1f} iterations/s")
                    if stopped:
                        status += " · **stopped by you**"
                    elif done:
                        why = "converged (no density moved by more than 0.01)" if step.change < 0.01 else "iteration limit"
                        status += f" · stopped: {why}"
                    yield render(problem, step.densities), _curve(history), status
                if stopped:
                    break

    def preview(nelx, nely, volfrac, supports, load_x, load_y, load_angle_deg):
        try:
            problem = make_problem(nelx, nely, volfrac, supports, load_x, load_y, load_angle_deg, 3.0, 1.5,
                                   FILTERS[0], 1)
        except ValueError as e:
            return gr.skip(), f"⚠️ {escape_markdown(e)}"
        uniform = np.full((problem.nely, problem.nelx), problem.volfrac)
        return render(problem, uniform), ("Ready: press **Optimise**. Grey = the starting design, every element at "
                                          "the volume fraction.")

    gr.Markdown("Give the computer loads, supports and a material budget; **SIMP** topology optimisation grows the "
                "stiffest structure it can, iteration by iteration (Andreassen et al. 2011's 88-line code, in Python).")
    with gr.Row():
        presets = [gr.Button(name, size="sm") for name in PRESETS]
    with gr.Row():
        nelx = gr.Slider(limits.TOPOLOGY_NELX_MIN, limits.TOPOLOGY_NELX_MAX, value=60, step=1, label="Width (elements)")
        nely = gr.Slider(limits.TOPOLOGY_NELY_MIN, limits.TOPOLOGY_NELY_MAX, value=30, step=1, label="Height (elements)")
        volfrac = gr.Slider(limits.TOPOLOGY_VOLFRAC_MIN, limits.TOPOLOGY_VOLFRAC_MAX, value=0.5, step=0.05,
                            label="Volume fraction", info="share of the domain the material may fill")
    supports = gr.CheckboxGroup(list(SUPPORTS), value=["Left edge clamped"], label="Supports",
                                info="squares: fixed in x and y · circles: a roller, fixed in one direction")
    with gr.Row():
        load_x = gr.Slider(0, 1, value=1.0, step=0.01, label="Load position x", info="0 = left edge, 1 = right edge")
        load_y = gr.Slider(0, 1, value=0.5, step=0.01, label="Load position y", info="0 = bottom, 1 = top")
        load_angle = gr.Slider(-180, 180, value=-90, step=5, label="Load direction (degrees)",
                               info="0 = right, 90 = up, -90 = down")
    with gr.Accordion("Method: penalty, filter, iterations", open=False):
        with gr.Row():
            penal = gr.Slider(limits.TOPOLOGY_PENAL_MIN, limits.TOPOLOGY_PENAL_MAX, value=3.0, step=0.5,
                              label="Penalty p", info="1 = no penalty: grey, half-dense material survives")
            rmin = gr.Slider(limits.TOPOLOGY_RMIN_MIN, limits.TOPOLOGY_RMIN_MAX, value=1.5, step=0.1,
                             label="Filter radius (elements)")
        with gr.Row():
            filter_name = gr.Radio(list(FILTERS), value=FILTERS[0], label="Filter")
            max_iterations = gr.Slider(1, limits.TOPOLOGY_ITERATIONS_MAX, value=60, step=1, label="Iterations (at most)")
    with gr.Row():
        run = gr.Button("Optimise", variant="primary")
        stop = gr.Button("Stop", variant="stop")
    status = gr.Markdown(elem_classes="cm-header")
    image = gr.Image(label="Design (black = material, blue = supports, red = load)", format="png",
                     interactive=False, elem_id="industries-design", height=320)
    curve = gr.LinePlot(x="iteration", y="compliance", title="Compliance (lower = stiffer)", height=220,
                        label="Compliance per iteration")

    geometry = [nelx, nely, volfrac, supports, load_x, load_y, load_angle]
    method = [penal, rmin, filter_name, max_iterations]
    STOPS.wire(run, stop)
    run.click(optimise_ui, inputs=geometry + method, outputs=[image, curve, status],
              api_name="industries_optimise", concurrency_id=CONCURRENCY_ID, concurrency_limit=2)
    for button in presets:
        button.click(functools.partial(_preset_values, button.value), outputs=geometry, api_visibility="private",
                     queue=False)
    for control in geometry:
        control.change(preview, inputs=geometry, outputs=[image, status], api_visibility="private",
                       trigger_mode="always_last")
    on_page_load(preview, inputs=geometry, outputs=[image, status])
