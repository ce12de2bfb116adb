"""Topic 7 figures: SIMP iterations per second, live updates per second, and synthetic rows per second.

    python bench/industries.py [--iterations 40] [--rows 5000]

SIMP: the cantilever preset at the default grid (60 x 30) and at the largest allowed grid (120 x 60).
One "iteration" is one pass of top88's loop (assemble K, sparse solve, sensitivities, filter, OC update);
one "update" adds what the page needs to show it (draw the design, encode the PNG as Gradio does).
Baseline, measured here: the sparse solve alone (scipy's SuperLU on the same matrix), i.e. how much of an
iteration is the finite-element solve. Goal: a visible update at least twice a second on 2 cores.

Synthetic data: rows per second sampled by the Gaussian copula and the tabular VAE on the breast-cancer
table (30 features + label), against the cheapest possible baseline, numpy's multivariate normal with
the same number of columns. Fit times are printed too.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from apps.industries import synthetic_data as S  # noqa: E402
from apps.industries import topology as T  # noqa: E402
from shared import limits  # noqa: E402


def solve_seconds(problem: T.Problem, repeats: int = 10) -> float:
    """Seconds for one sparse solve of the starting design's stiffness system (the baseline)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    n_dofs = 2 * (problem.nelx + 1) * (problem.nely + 1)
    edof = T.element_dofs(problem.nelx, problem.nely)
    KE = T.element_stiffness()
    stiffness = np.full(len(edof), 1e-9 + problem.volfrac**problem.penal)
    K = coo_matrix(((KE.ravel()[None] * stiffness[:, None]).ravel(),
                    (np.repeat(edof, 8, 1).ravel(), np.tile(edof, (1, 8)).ravel())), shape=(n_dofs, n_dofs)).tocsc()
    free = np.setdiff1d(np.arange(n_dofs), T.fixed_dofs(problem))
    K, F = K[free][:, free], T.load_vector(problem)[free]
    start = time.perf_counter()
    for _ in range(repeats):
        spsolve(K, F, permc_spec="MMD_AT_PLUS_A")
    return (time.perf_counter() - start) / repeats


def simp_figures(nelx: int, nely: int, iterations: int) -> None:
    problem = T.preset("Cantilever", nelx=nelx, nely=nely, max_iterations=iterations)
    start = time.perf_counter()
    steps = list(T.optimise(problem))
    iteration_s = (time.perf_counter() - start) / len(steps)
    start = time.perf_counter()
    for step in steps[:: max(1, len(steps) // 10)]:
        T.png_bytes(T.render(problem, step.densities))
    draw_s = (time.perf_counter() - start) / len(steps[:: max(1, len(steps) // 10)])
    solve_s = solve_seconds(problem)
    unthrottled = 1.0 / (iteration_s + draw_s)
    shown = min(unthrottled, 1.0 / limits.TOPOLOGY_UPDATE_S)  # the page redraws at most every TOPOLOGY_UPDATE_S
    print(f"SIMP cantilever {nelx} x {nely} ({2 * (nelx + 1) * (nely + 1):,} degrees of freedom), {len(steps)} iterations:")
    print(f"  {1 / iteration_s:.1f} iterations/s ({iteration_s * 1000:.1f} ms each; the sparse solve alone "
          f"{solve_s * 1000:.1f} ms = {solve_s / iteration_s:.2f} of an iteration)")
    print(f"  draw + PNG {draw_s * 1000:.1f} ms; updates/s if every iteration were drawn {unthrottled:.1f}; "
          f"shown (throttled to {1 / limits.TOPOLOGY_UPDATE_S:.0f}/s) {shown:.1f} = {shown / 2:.1f}x the goal of 2/s")


def synthetic_figures(rows: int) -> None:
    table = S.load_table(S.DATASETS[0])
    d = table.train.shape[1]
    rng = np.random.default_rng(0)
    cov = np.cov(table.train.to_numpy(), rowvar=False)

    def rate(sample) -> float:
        """Rows per second, the best of three draws (the machine is shared: the best is the least disturbed)."""
        sample(100)  # warm up
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            sample(rows)
            best = min(best, time.perf_counter() - start)
        return rows / best

    baseline = rate(lambda n: rng.multivariate_normal(np.zeros(d), cov, size=n))
    S.fit_generator(table, "Tabular VAE", steps=100)  # warm up: the first call imports scipy.stats and torch
    start = time.perf_counter()
    copula = S.fit_generator(table, "Gaussian copula")
    copula_fit = time.perf_counter() - start
    start = time.perf_counter()
    vae = S.fit_generator(table, "Tabular VAE", steps=800)
    vae_fit = time.perf_counter() - start
    print(f"Synthetic rows, breast-cancer table ({len(table.train)} training rows x {d} columns), {rows:,} rows per draw:")
    print(f"  baseline numpy multivariate normal: {baseline:,.0f} rows/s")
    for name, model, fit_s in (("Gaussian copula", copula, copula_fit), ("Tabular VAE", vae, vae_fit)):
        r = rate(lambda n, m=model: m.sample(n, rng))
        print(f"  {name}: {r:,.0f} rows/s = {r / baseline:.2f}x the baseline; fit {fit_s:.2f} s")
    start = time.perf_counter()
    S.evaluate(table, copula.sample(1000, rng))
    print(f"  fidelity + privacy report on 1,000 rows: {time.perf_counter() - start:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--rows", type=int, default=limits.SYNTH_ROWS_MAX)
    args = parser.parse_args()
    simp_figures(60, 30, args.iterations)
    simp_figures(limits.TOPOLOGY_NELX_MAX, limits.TOPOLOGY_NELY_MAX, max(5, args.iterations // 4))
    synthetic_figures(args.rows)


if __name__ == "__main__":
    from shared.device import describe_cpu

    print(f"CPU: {describe_cpu()}")
    main()
