# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Figure 2: ω_h and μ_h across training (H = 2), against the reduced theory
#
# **Paper's claim.** The two heads grow symmetrically (ω_1 ≈ −ω_2, μ_1 ≈ −μ_2, so
# Σ_h μ_h ≈ 0), the loss drops fast, then ω keeps drifting down and μ up while
# η = Σ_h μ_h ω_h stays near η_∞ = 0.879 (trained: 0.85–0.92; heads near
# ω ≈ ±0.13, μ ≈ ±3.2–3.5 after 500k steps). The trained (ω, μ) should land on the
# curve that gradient descent on the reduced loss L̃ follows.

# %%
import jax.numpy as jnp
import numpy as np

import theory
from _common import QUICK, heads_runs, plt, save
from icl import workdir
from icl.figures import omega_mu, series

runs = heads_runs()
records = workdir.read_metrics(runs[2])
fig = omega_mu(records)
print(save(fig, "fig2_omega_mu_h2"))

# %% [markdown]
# The trained trajectory in the (ω, μ) plane of head 1 (head 2 is its mirror image),
# over the reduced gradient-descent path from ±1e-3 and the hyperbola 2μω = η_∞.

# %%
d, L, s2 = 5, 40, 0.1
red = theory.reduced_gd(jnp.array([1e-3, -1e-3]), jnp.array([1e-3, -1e-3]), d, L, s2,
                        lr=0.01, num_steps=20_000 if QUICK else 400_000)
eta_inf, _ = theory.pair_limit(d, L, s2)
_, om0, _ = series(records, "probe/omega/h0")
_, om1, _ = series(records, "probe/omega/h1")
_, mu0, _ = series(records, "probe/mu/h0")
_, mu1, _ = series(records, "probe/mu/h1")
# the head with positive omega plays head 1 of the reduced pair
sign = np.sign(om0[-1])
om_pos, mu_pos = (om0, mu0) if sign > 0 else (om1, mu1)
fig, ax = plt.subplots(figsize=(5.5, 4.2))
ax.plot(np.asarray(red["omega"])[:, 0], np.asarray(red["mu"])[:, 0], color="gray",
        label="reduced GD on $\\tilde L$ (from ±1e-3)")
grid = np.linspace(0.05, 0.7, 100)
ax.plot(grid, float(eta_inf) / (2 * grid), "r--", lw=1, label="$2\\mu\\omega = \\eta_\\infty$")
ax.plot(om_pos, mu_pos, "o-", ms=3, color="tab:blue", label="trained model (seed 0)")
ax.plot(om_pos[-1], mu_pos[-1], "k*", ms=10, label="end of training")
ax.set(xlabel="$\\omega$ of the positive head", ylabel="$\\mu$ of the positive head",
       xlim=(0, 0.7), ylim=(0, 4), title="Trained heads on the reduced-theory curve")
ax.legend(fontsize=8)
print(save(fig, "fig2_phase_plane_h2"))
_, eta, _ = series(records, "probe/eta")
_, mu_sum, _ = series(records, "probe/mu_sum")
print(f"final: omega {om0[-1]:+.3f} {om1[-1]:+.3f}, mu {mu0[-1]:+.3f} {mu1[-1]:+.3f}, "
      f"eta {eta[-1]:.3f}, sum mu {mu_sum[-1]:+.3f}")

# %% [markdown]
# **Check against the paper.** Opposite-sign heads, Σ μ ≈ 0 relative to |μ|, and η in
# the paper's band once trained.

# %%
if not QUICK:  # QUICK trains a few steps only: nothing has emerged yet
  assert om0[-1] * om1[-1] < 0
  assert abs(mu_sum[-1]) < 0.1 * (abs(mu0[-1]) + abs(mu1[-1]))
  assert 0.8 <= eta[-1] <= 0.95
