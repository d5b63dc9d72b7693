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
# # Figure 5: the reduced loss landscape and its three-stage dynamics
#
# With the four patterns, H heads reduce to 2H numbers (ω_h, μ_h), and the
# approximate population loss is (docs/regression.md, "Theory")
#
# L̃(ω, μ) = 1 + σ² − 2μᵀω + μᵀ[ωωᵀ + ((1+σ²)/L)·exp∘(d ωωᵀ)]μ.
#
# **Paper's claim.** Gradient descent on L̃/2 from a small symmetric init
# (ω, μ = ±1e-3, lr 0.01) shows three stages: slow symmetric growth, a fast drop of
# the loss, then a slow drift (ω ↓, μ ↑) with the product η = Σ μ_h ω_h near
# η_∞ = 1/(1 + (1+σ²)d/L) = 0.879 and L̃ → L̃_∞ = 0.221.

# %%
import numpy as np
import jax.numpy as jnp

import theory
from _common import QUICK, plt, save

d, L, s2 = 5, 40, 0.1
steps = 20_000 if QUICK else 200_000
traj = theory.reduced_gd(jnp.array([1e-3, -1e-3]), jnp.array([1e-3, -1e-3]), d, L, s2,
                         lr=0.01, num_steps=steps)
stages = theory.stage_boundaries(traj)
eta_inf, loss_inf = theory.pair_limit(d, L, s2)
print("stage boundaries:", stages)
print(f"final: omega {np.asarray(traj['omega'][-1])}, mu {np.asarray(traj['mu'][-1])}, "
      f"eta {float(traj['eta'][-1]):.4f} (eta_inf {float(eta_inf):.4f}), "
      f"loss {float(traj['loss'][-1]):.4f} (limit {float(loss_inf):.4f})")

# %%
t = np.arange(len(traj["loss"]))
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
ax = axes[0]
ax.plot(t[1:], np.asarray(traj["loss"])[1:], color="k")
ax.axhline(float(loss_inf), ls="--", color="gray", label=r"$\tilde L_\infty$ = %.3f" % loss_inf)
for name, color in [("drop_start", "tab:orange"), ("drop_end", "tab:green")]:
  ax.axvline(stages[name], color=color, ls=":", label=f"{name} (step {stages[name]})")
ax.set(xscale="log", xlabel="gradient step", ylabel=r"reduced loss $\tilde L$",
       title="Three stages of the reduced dynamics")
ax.legend(fontsize=8)

ax = axes[1]
ax.plot(t[1:], np.asarray(traj["omega"])[1:, 0], label=r"$\omega_1$ (= $-\omega_2$)")
ax.plot(t[1:], np.asarray(traj["mu"])[1:, 0], label=r"$\mu_1$ (= $-\mu_2$)")
ax.plot(t[1:], np.asarray(traj["eta"])[1:], label=r"$\eta = \sum_h \mu_h\omega_h$")
ax.axhline(float(eta_inf), ls="--", color="gray", label=r"$\eta_\infty$ = %.3f" % eta_inf)
ax.set(xscale="log", xlabel="gradient step", ylabel="value",
       title=r"$\omega$ shrinks, $\mu$ grows, $\eta \to \eta_\infty$")
ax.legend(fontsize=8)

# Landscape of the symmetric pair (omega, -omega), (mu, -mu) with the trajectory.
ax = axes[2]
om = np.linspace(0.02, 0.8, 160)
mu = np.linspace(0.05, 3.5, 160)
OM, MU = np.meshgrid(om, mu)
pair = lambda o, m: theory.reduced_loss(jnp.array([o, -o]), jnp.array([m, -m]), d, L, s2)
import jax
Z = np.asarray(jax.vmap(jax.vmap(pair))(jnp.asarray(OM), jnp.asarray(MU)))
cs = ax.contourf(OM, MU, np.log10(Z), levels=30, cmap="viridis")
fig.colorbar(cs, ax=ax, label=r"$\log_{10}\tilde L$")
ax.plot(np.asarray(traj["omega"])[:, 0], np.asarray(traj["mu"])[:, 0], color="w", lw=1.5,
        label="GD trajectory")
ax.plot(om, float(eta_inf) / (2 * om), "r--", lw=1, label=r"$2\mu\omega = \eta_\infty$")
ax.set(xlabel=r"$\omega$ (head 1; head 2 = $-\omega$)", ylabel=r"$\mu$ (head 1)",
       title="Reduced loss, symmetric pair", ylim=(mu[0], mu[-1]))
ax.legend(fontsize=8, loc="upper right")
fig.tight_layout()
print(save(fig, "fig5_reduced_dynamics"))

# %% [markdown]
# **Check against the paper.** The loss plateaus, drops fast between the two
# dotted lines, then drifts; η approaches η_∞ from below while ω falls and μ grows.

# %%
assert stages["drop_start"] < stages["drop_end"] < stages["omega_peak"] * 2 + 1000
assert abs(float(traj["eta"][-1]) - float(eta_inf)) < (0.05 if QUICK else 0.01)
assert float(traj["omega"][-1, 0]) < float(np.max(np.asarray(traj["omega"])[:, 0]))
