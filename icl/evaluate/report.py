"""The evaluation result as a text table (what `python -m icl.evaluate` prints)."""

from __future__ import annotations

from icl.evaluate import theory


def format_table(result: dict) -> str:
  """Model MSE (and the theory predictors' risks on the same prompts) per length."""
  names = [n for n in theory.THEORY_NAMES if n in result.get("theory", {})]
  lines = [f"step {result['step']}, {result['num_prompts']} prompts per length, "
           f"{result['num_seeds']} seed(s)"]
  if "reduced" in result:
    red = result["reduced"]
    lines.append("reduced model (seed 0): omega " + ", ".join(
        f"{w:+.3f}" for w in red["omega"][0]) + "; mu " + ", ".join(
        f"{m:+.3f}" for m in red["mu"][0]) + f"; eta {red['eta'][0]:.3f}; "
        f"sum mu {red['mu_sum'][0]:+.3f}; dummy heads "
        f"{[h for h, dm in enumerate(red['dummy'][0]) if dm]}")
  lines.append(f"{'L':>5}  {'model':>8} {'(se)':>7}" +
               "".join(f"  {n:>11}" for n in names))
  if not result["context_len"]:
    lines += [f"  {name:>24}  {value:.4f}" for name, value in result["metrics"].items()
              if isinstance(value, float)]
  for length, mse in result["context_len"].items():
    row = f"{length:>5}  {mse:8.4f} {result['context_len_se'][length]:7.4f}"
    row += "".join(f"  {result['theory'][n][length]:11.4f}" for n in names)
    lines.append(row)
  return "\n".join(lines)
