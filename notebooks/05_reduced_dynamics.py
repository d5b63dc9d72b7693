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

# %% [markdown]
# ## L̃ against the kernel estimator's Monte-Carlo risk
#
# L̃ is a large-L approximation of the risk of the kernel estimator
# ŷ = Σ_h μ_h Σ_l y_l softmax_l(ω_h x_lᵀ x_q). Over a grid of symmetric pairs we compare
# it with the estimator's Monte-Carlo risk at L = 40 (the gap ≈ 1/(L + d(1+σ²)) of
# docs/regression.md, "The reduced loss", is the 1/L term L̃ drops).

# %%
from icl.tasks.regression import RegressionTask

task = RegressionTask(dim=d, context_len=L, noise_var=s2)
grid_om = np.linspace(0.05, 0.6, 5 if QUICK else 12)
grid_mu = np.linspace(0.5, 3.5, 5 if QUICK else 12)
num_prompts = 2_000 if QUICK else 20_000


def kernel_mc(o, m):
  w, u = jnp.array([o, -o]), jnp.array([m, -m])
  mean, se = theory.mc_risk(lambda b: theory.kernel_predict(b["x"], b["y"], b["xq"], w, u),
                            task.sample, jax.random.key(0, impl="rbg"), num_prompts, 2_000)
  return float(mean), float(se)


mc = np.array([[kernel_mc(o, m) for o in grid_om] for m in grid_mu])  # [mu, omega, 2]
lt = np.array([[float(pair(o, m)) for o in grid_om] for m in grid_mu])
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
for ax, z, title in [(axes[0], lt, r"$\tilde L$ (closed form)"),
                     (axes[1], mc[..., 0], "kernel estimator, Monte Carlo (L = 40)")]:
  cs = ax.pcolormesh(grid_om, grid_mu, np.log10(z), cmap="viridis", shading="nearest",
                     vmin=np.log10(min(lt.min(), mc[..., 0].min())),
                     vmax=np.log10(max(lt.max(), mc[..., 0].max())))
  fig.colorbar(cs, ax=ax, label="log10 risk")
  ax.set(xlabel=r"$\omega$ (pair $\pm\omega$)", ylabel=r"$\mu$ (pair $\pm\mu$)", title=title)
cs = axes[2].pcolormesh(grid_om, grid_mu, mc[..., 0] - lt, cmap="RdBu_r", shading="nearest")
fig.colorbar(cs, ax=axes[2], label="Monte Carlo − L̃")
axes[2].set(xlabel=r"$\omega$", ylabel=r"$\mu$", title="the gap")
fig.tight_layout()
print(save(fig, "fig5_reduced_loss_vs_mc"))
near = np.abs(2 * grid_mu[:, None] * grid_om[None, :] - float(eta_inf)) < 0.3
print("near the optimum (|2μω − η_∞| < 0.3): MC − L̃ ranges",
      np.round((mc[..., 0] - lt)[near].min(), 4), "to", np.round((mc[..., 0] - lt)[near].max(), 4),
      f"(1/(L + d(1+σ²)) = {1 / (L + d * (1 + s2)):.4f})")

# %% [markdown]
# ## Four heads from a random init
#
# The authors' H = 4 reduced run: ω, μ ~ N(0, 0.1²), σ² = 0.01, gradient flow to
# t = 3000. Every head ends active (no dummy heads in the reduced model) at a common
# |ω|, with Σ μ = 0 and Σ μω at the pair limit; with two positive and two negative
# heads |ω| = 0.155 and Σ μω = 0.8872.

# %%
s2_4 = 0.01
eta_inf4, _ = theory.pair_limit(d, L, s2_4)
k_w, k_mu = jax.random.split(jax.random.PRNGKey(1))
traj4 = theory.reduced_gd(0.1 * jax.random.normal(k_w, (4,)), 0.1 * jax.random.normal(k_mu, (4,)),
                          d, L, s2_4, lr=0.1, num_steps=30_000)  # t = lr * steps = 3000
w4, m4 = np.asarray(traj4["omega"][-1]), np.asarray(traj4["mu"][-1])
print(f"H = 4 at t = 3000: omega {np.round(w4, 4)}, mu {np.round(m4, 3)}, "
      f"sum mu {m4.sum():+.4f}, eta {float(traj4['eta'][-1]):.4f} (eta_inf {float(eta_inf4):.4f})")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
tt = 0.1 * np.arange(len(traj4["loss"]))
for h in range(4):
  axes[0].plot(tt, np.asarray(traj4["omega"])[:, h], label=f"head {h + 1}")
  axes[1].plot(tt, np.asarray(traj4["mu"])[:, h])
axes[0].set(xscale="symlog", xlabel="time t", ylabel=r"$\omega_h$", title="H = 4, random init")
axes[1].set(xscale="symlog", xlabel="time t", ylabel=r"$\mu_h$")
axes[0].legend(fontsize=8)
fig.tight_layout()
print(save(fig, "fig5_reduced_dynamics_h4"))

# %%
assert np.allclose(np.abs(w4), 0.155, atol=2e-3) and (w4 > 0).sum() == 2
assert abs(m4.sum()) < 1e-3 and abs(float(traj4["eta"][-1]) - 0.8872) < 1e-3
