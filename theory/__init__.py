"""Theory of in-context linear regression with (multi-head) attention, and of linear
attention as an associative memory (MQAR).

Plain jax.numpy, independent of models and training (house style rule 8). See
docs/regression.md, "Theory" and "Targets"; docs/tasks.md, "Associative recall: MQAR".
See theory/README.md for every formula, its assumptions and its source.
"""

from theory.associative_memory import crosstalk, hebbian_recall
from theory.bridge import reduced_params
from theory.linear_gd import (bayes_mean_predict, best_lsa_risk, gd_init_opt_risk,
                              gd_init_opt_step, gd_init_predict, gd_init_risk,
                              gd_multistep_predict, heads_from_tensor, lsa_features,
                              lsa_head_bound, lsa_predict, lsa_tensor,
                              sensitivity_cosine, tune_gd_step, uniform_gd_opt,
                              von_oswald_gd_weights, von_oswald_layer, zfb_risk,
                              zfb_risk_inf)
from theory.linear_gd import optimal_preconditioner as lgd_optimal_preconditioner
from theory.montecarlo import bayes_risk_mc, mc_risk
from theory.predictors import (bayes_predict, debiased_gd_predict, gd_predict,
                               kernel_predict, linear_attention_predict,
                               ols_predict, preconditioned_gd_predict,
                               ridge_predict)
from theory.reduced import (kernel_risk_first_order, optimal_mu, pair_limit,
                            reduced_flow, reduced_gd, reduced_loss,
                            single_head_optimum, stage_boundaries)
from theory.risks import (debiased_gd_opt_risk, debiased_gd_opt_step,
                          debiased_gd_risk, fixed_norm_length_risk, gd_opt_risk,
                          gd_opt_risk_proportional, gd_opt_step, gd_risk,
                          linear_attention_opt_risk, linear_attention_opt_step,
                          optimal_preconditioner, preconditioned_gd_risk,
                          ridge_risk_proportional)

__all__ = [
    "bayes_mean_predict", "best_lsa_risk", "gd_init_opt_risk", "gd_init_opt_step",
    "gd_init_predict", "gd_init_risk", "gd_multistep_predict", "heads_from_tensor",
    "lgd_optimal_preconditioner", "lsa_features", "lsa_head_bound", "lsa_predict",
    "lsa_tensor", "sensitivity_cosine", "tune_gd_step", "uniform_gd_opt",
    "von_oswald_gd_weights", "von_oswald_layer", "zfb_risk", "zfb_risk_inf",
    "bayes_predict", "bayes_risk_mc", "crosstalk", "debiased_gd_opt_risk",
    "debiased_gd_opt_step", "debiased_gd_predict", "debiased_gd_risk",
    "fixed_norm_length_risk", "gd_opt_risk", "gd_opt_risk_proportional",
    "gd_opt_step", "gd_predict", "gd_risk", "hebbian_recall", "kernel_predict",
    "kernel_risk_first_order",
    "linear_attention_opt_risk", "linear_attention_opt_step",
    "linear_attention_predict", "mc_risk", "ols_predict", "optimal_mu",
    "optimal_preconditioner", "pair_limit", "preconditioned_gd_predict",
    "preconditioned_gd_risk", "reduced_flow", "reduced_gd", "reduced_loss",
    "reduced_params", "ridge_predict", "ridge_risk_proportional",
    "single_head_optimum", "stage_boundaries",
]
