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
# # Figure 10: K layers of LSA vs K steps of GD, and the length- and covariate-shift curves (T4–T6)
#
# Three classic results (docs/linear_gd.md, "Targets"):
#
# * **von Oswald et al. 2023** (`configs/linear_gd.py:t4,layers=K`, recurrent): x ~
#   U(−½, ½)^10, w ~ N(0, I), n = 10, their W_Q/W_K/W_V/P parametrisation, ½·MSE.
#   *Claim:* one trained layer is one step of GD (≈ 0.206); K layers do at least as
#   well as K steps (0.157, 0.134 for K = 2, 3).
# * **Ahn et al. 2023** (`t6,layers=K`): d = 5, n = 20, w ~ N(0, I), their restricted
#   class KQ = [[A, 0], [0, 0]], PV = [[B, 0], [0, 1]], minus readout, MSE. *Claim:* the
#   one-layer optimum is A = −Γ₀ = −(20/26)·I, R = 1.154; K layers are K steps of
#   preconditioned GD, below plain K-step GD (0.49 at K = 2).
# * **Zhang, Frei & Bartlett 2024** (`t5`): one unmasked layer trained by SGD from
#   their balanced initialisation, Λ = diag(.25, .5, 1, 1.5, 2), N = 20. *Claim:*
#   c·W^KQ_11 → Γ* and the risk at test length M and test covariance Λ_t is the closed
#   form `theory.zfb_risk` (3.667 / 1.978 / 1.134 / 0.712 / 0.501 at M = 5 … 80;
#   10.50 at Λ_t = 2Λ).

# %%
import jax
import jax.numpy as jnp
import numpy as np

import theory
from _common import QUICK, lgd_config, plt, save, seed_slice, train
from icl.evaluate import load_run
from icl.models import lsa
from icl.probes import gd_alignment

NUM_EVAL = 2048 if QUICK else 200_000
NUM_TUNE = 1024 if QUICK else 10_000  # von Oswald et al. tune GD on 10^4 tasks
KEY = jax.random.key(12345, impl="rbg")
KS_T4 = (1,) if QUICK else (1, 2, 3)  # QUICK: one layer each (K layers: tests/models)
KS_T6 = (1,) if QUICK else (1, 2)
GRID = 1.0 if QUICK else 0.1  # von Oswald et al.'s grid of GD steps: arange(0.001, 25, 0.1)


def load(workdir):
  spec, exp, states, _ = load_run(workdir)
  return spec, exp, seed_slice(states["params"])


def mc(predict, sample):
  mean, se = theory.mc_risk(predict, sample, KEY, NUM_EVAL, min(NUM_EVAL, 10_000))
  return float(mean), float(se)


def layers_vs_steps(variant, ks, etas):
  """({K: (trained risk, SE, K-step GD risk at the tuned step, SE, eta)} (MSE),
  {K: (spec, params)})."""
  out, models = {}, {}
  for k in ks:
    spec, exp, params = load(train(f"lgd_{variant}_k{k}", lgd_config(f"{variant},layers={k}")))
    tune = exp.task.sample(jax.random.fold_in(KEY, 1), NUM_TUNE)
    eta, _ = theory.tune_gd_step(tune, k, jnp.asarray(etas))
    gd = lambda b, eta=eta, k=k: theory.gd_multistep_predict(b["x"], b["y"], b["xq"], eta, k)
    out[k] = (*mc(lambda b: exp.apply(params, b), exp.task.sample),
              *mc(gd, exp.task.sample), float(eta))
    models[k] = spec, params
  return out, models


t4, _ = layers_vs_steps("t4", KS_T4, np.arange(0.001, 25, GRID))
t6, t6_models = layers_vs_steps("t6", KS_T6, np.arange(0.02, 1.5, GRID / 5))
for name, table, unit in (("von Oswald (t4)", t4, 0.5), ("Ahn (t6)", t6, 1.0)):
  for k, (r, se, g, gse, eta) in table.items():
    print(f"{name} K = {k}: trained {unit * r:.4f} ± {unit * se:.4f}, "
          f"{k}-step GD (eta {eta:.3f}) {unit * g:.4f} ± {unit * gse:.4f}"
          + (" (1/2 MSE)" if unit == 0.5 else " (MSE)"))
if 1 in t6:
  spec, params = t6_models[1]
  (kq, _), = lsa.layer_weights(params, spec.model).values()
  a = np.asarray(kq)[0, :spec.task.dim, :spec.task.dim]  # KQ = [[A, 0], [0, 0]]
  scale = np.trace(a) / len(a)
  dist = np.linalg.norm(a - scale * np.eye(len(a))) / np.linalg.norm(a)
  n, d = spec.task.context_len, spec.task.dim
  print(f"Ahn K = 1: A = {scale:.4f} I (target {-n / (n + 1 + d):.4f}), distance to a "
        f"scaled identity {dist:.4f}")

# %% [markdown]
# **ZFB: length and covariate shift.** The trained model's Monte-Carlo risk at test
# length M (and with Λ_t = 2Λ, Λ/2 at M = 20) beside the closed form for Γ* (the
# target) and for the model's own Γ_eff; the Monte-Carlo risk of the predictor
# x_qᵀΓ_eff(1/M)Σ y_i x_i on the same prompts separates what Γ_eff explains from
# what the other (small) blocks of the trained layer add.

# %%
spec5, exp5, params5 = load(train("lgd_t5", lgd_config("t5")))
task5 = exp5.task
d5 = task5.dim
lam = jnp.asarray(task5.covariance_matrix(), jnp.float32)
(w_kq, w_ov), = lsa.layer_weights(params5, spec5.model).values()
g_eff = gd_alignment.effective_preconditioner(w_kq, w_ov, d5)  # yhat = h^T G_eff x_q
g_star = theory.lgd_optimal_preconditioner(lam, task5.context_len, 1.0, 0.0)
print("diag Γ_eff", np.round(np.diag(np.asarray(g_eff)), 3), " diag Γ*",
      np.round(np.diag(np.asarray(g_star)), 3), " rel. error",
      f"{float(jnp.linalg.norm(g_eff - g_star) / jnp.linalg.norm(g_star)):.4f}")
LENGTHS = (5, 20) if QUICK else (5, 10, 20, 40, 80)
SHIFTS = (2.0,) if QUICK else (2.0, 0.5)
zero = jnp.zeros(d5)


def shift_row(m, c=None):
  sample = lambda k, bs: task5.sample(k, bs, context_len=m, covariate_scale=c)
  lam_t = lam * (1.0 if c is None else c)
  return {"model": mc(lambda b: exp5.apply(params5, b), sample),
          "gamma_eff_mc": mc(lambda b: theory.gd_init_predict(b["x"], b["y"], b["xq"], zero,
                                                              g_eff), sample),
          "zfb_gamma_eff": float(theory.zfb_risk(g_eff.T, lam_t, m)),
          "zfb_gamma_star": float(theory.zfb_risk(g_star, lam_t, m))}


curve = {m: shift_row(m) for m in LENGTHS}
shifted = {c: shift_row(task5.context_len, c) for c in SHIFTS}
for label, row in [(f"M = {m}", r) for m, r in curve.items()] + [
    (f"Λ_t = {c}Λ", r) for c, r in shifted.items()]:
  print(f"{label:10s} trained {row['model'][0]:.4f} ± {row['model'][1]:.4f}   "
        f"Γ_eff predictor {row['gamma_eff_mc'][0]:.4f}   closed form Γ_eff "
        f"{row['zfb_gamma_eff']:.4f}   Γ* {row['zfb_gamma_star']:.4f}")
print("M = ∞: Γ*", f"{float(theory.zfb_risk_inf(g_star, lam)):.4f}", " Λ_t = 2Λ:",
      f"{float(theory.zfb_risk_inf(g_star, 2 * lam)):.4f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
for ax, table, unit, title in ((axes[0], t4, 0.5, "von Oswald et al. (t4), ½·MSE"),
                               (axes[1], t6, 1.0, "Ahn et al. class (t6), MSE")):
  ks = list(table)
  for j, (label, marker) in enumerate((("trained K layers", "o"),
                                       ("K steps of GD, tuned step", "s"))):
    ax.errorbar(ks, [unit * table[k][2 * j] for k in ks],
                yerr=[2 * unit * table[k][2 * j + 1] for k in ks], marker=marker,
                capsize=3, label=label)
  ax.set(xlabel="K", ylabel="risk", title=title, xticks=ks)
  ax.legend(fontsize=8)
ax = axes[2]
ms = np.array(LENGTHS)
fine = np.geomspace(ms[0], ms[-1], 60)
ax.plot(fine, [float(theory.zfb_risk(g_star, lam, m)) for m in fine], "k-",
        label="closed form, Γ* (target)")
ax.plot(fine, [float(theory.zfb_risk(g_eff.T, lam, m)) for m in fine], "C1--",
        label="closed form, trained Γ_eff")
ax.errorbar(ms, [curve[m]["model"][0] for m in ms],
            yerr=[2 * curve[m]["model"][1] for m in ms], marker="o", ls="none", color="C0",
            label="trained model (MC)")
for c, color in zip(SHIFTS, ("C3", "C2")):
  row = shifted[c]
  ax.errorbar([task5.context_len], [row["model"][0]], yerr=[2 * row["model"][1]],
              marker="D", color=color, ls="none", label=f"trained, Λ_t = {c}Λ")
  ax.plot([task5.context_len], [row["zfb_gamma_star"]], "x", color=color, ms=10,
          label=f"closed form Γ*, Λ_t = {c}Λ")
ax.axvline(task5.context_len, color="0.7", lw=1)
ax.set(xscale="log", yscale="log", xlabel="test prompt length M", ylabel="risk (MSE)",
       title=f"ZFB (t5): length and covariate shift, N = {task5.context_len}")
ax.set_xticks(ms, [str(m) for m in ms])
ax.legend(fontsize=7)
print(save(fig, "fig10_lsa_layers_and_shift"))

# %% [markdown]
# **What the data show** (full run; numbers beside their targets in
# WORKSPACE_NOTES.md, "Linear attention vs GD"): one von Oswald layer sits on one-step
# GD and K recurrent layers fall below K-step GD (they also move x: GD++); Ahn's
# one-layer A is −0.769·I and two layers are far below two plain GD steps; the ZFB curve
# follows the closed form. The trained layer sits 1–4% above the Γ* curve: its
# unconverged Γ_eff (the slowest direction, λ = 0.25) explains the tilt (the Γ_eff
# closed form), and the nearly constant rest is SGD noise left in the blocks the
# optimum sets to zero (the layer minus its own Γ_eff predictor), which a short lr
# anneal removes (docs/linear_gd.md, "Reading a trained T5 curve"). The checks hold in
# the full setting; QUICK only checks that everything ran.

# %%
assert all(np.isfinite([v for t in (t4, t6) for row in t.values() for v in row]))
assert all(np.isfinite(row["model"][0]) for row in [*curve.values(), *shifted.values()])
if not QUICK:
  assert abs(0.5 * t4[1][0] - 0.5 * t4[1][2]) < 0.02 * 0.5 * t4[1][2] + 5 * t4[1][1]
  assert all(t4[k][0] < t4[k][2] + 5 * t4[k][1] for k in KS_T4)
  assert abs(t6[1][0] - 30 / 26) < 0.02 * 30 / 26 + 5 * t6[1][1]
  assert t6[2][0] < 0.8 * t6[2][2]
  for m in LENGTHS:  # Gamma_eff's predictor is its closed form; the layer adds the
    # SGD-noise offset of its other blocks (+0.014-0.027 at 6000 steps)
    row = curve[m]
    assert abs(row["gamma_eff_mc"][0] - row["zfb_gamma_eff"]) < 5 * row["gamma_eff_mc"][1], row
    assert -0.005 < row["model"][0] - row["gamma_eff_mc"][0] < 0.04, row
