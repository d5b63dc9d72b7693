"""A PyTorch eager re-implementation of the paper's training loop (the baseline).

What research code for this paper looks like (the authors' repository is PyTorch):
per-head Q, K, V as ``nn.Linear(D, D*H, bias=False)``, the output projection
``nn.Linear(D*H, 1, bias=False)``, scores scaled by 1/sqrt(D), the softmax over the L
context tokens only (the query does not attend to itself), PyTorch's default init,
Adam(lr=1e-3), batch 256, fresh data drawn with torch on the CPU every step.
Same mathematics as `icl.models.one_layer` (docs/regression.md, "Model").

Needs the optional extra ``pip install -e ".[bench]"`` (torch==2.13.0, CPU build).
Timed by `benchmarks.harness.TorchCase` in the baselines section, and as a whole
process (`python -m benchmarks.torch_reference --steps=20000`: train, log, evaluate,
save) in the whole_process section:

  python -m benchmarks.run --sections=baselines
"""

from __future__ import annotations

import math

import torch
from torch import nn


class OneLayerAttention(nn.Module):
  """One layer of H full-width heads read out at the query token."""

  def __init__(self, dim: int = 5, num_heads: int = 2, attention: str = "softmax",
               train_len: int = 40):
    super().__init__()
    width = dim + 1
    self.width, self.num_heads, self.attention = width, num_heads, attention
    self.train_len = train_len
    self.query = nn.Linear(width, width * num_heads, bias=False)
    self.key = nn.Linear(width, width * num_heads, bias=False)
    self.value = nn.Linear(width, width * num_heads, bias=False)
    self.out = nn.Linear(width * num_heads, 1, bias=False)

  def forward(self, z: torch.Tensor, zq: torch.Tensor) -> torch.Tensor:
    """z: [B, L, D] context tokens, zq: [B, D] query token -> [B]."""
    b, l, d = z.shape
    h = self.num_heads
    q = self.query(zq).view(b, h, d)  # [B, H, D]
    k = self.key(z).view(b, l, h, d).transpose(1, 2)  # [B, H, L, D]
    v = self.value(z).view(b, l, h, d).transpose(1, 2)
    scores = torch.einsum("bhd,bhld->bhl", q, k) / math.sqrt(d)
    if self.attention == "softmax":
      weights = torch.softmax(scores, dim=-1)
    else:
      weights = scores / self.train_len
    heads = torch.einsum("bhl,bhld->bhd", weights, v).reshape(b, h * d)
    return self.out(heads)[:, 0]


def sample(batch_size: int = 256, dim: int = 5, length: int = 40,
           noise_var: float = 0.1, generator: torch.Generator | None = None):
  """The paper's data drawn with torch: tokens z [B, L, D], z_q [B, D], y_q [B]."""
  beta = torch.randn(batch_size, dim, generator=generator) / math.sqrt(dim)
  x = torch.randn(batch_size, length + 1, dim, generator=generator)
  noise = math.sqrt(noise_var) * torch.randn(batch_size, length + 1, generator=generator)
  y = torch.einsum("bld,bd->bl", x, beta) + noise
  z = torch.cat([x[:, :length], y[:, :length, None]], dim=-1)
  zq = torch.cat([x[:, length], torch.zeros(batch_size, 1)], dim=-1)
  return z, zq, y[:, length]


def make_step(model: nn.Module, optimizer: torch.optim.Optimizer):
  def step(z, zq, yq):
    optimizer.zero_grad(set_to_none=True)
    loss = torch.mean(torch.square(model(z, zq) - yq))
    loss.backward()
    optimizer.step()
    return loss
  return step


def train(steps: int = 20_000, heads: int = 2, threads: int = 0, log_every: int = 500,
          eval_every: int = 2_500, eval_prompts: int = 20_000, out: str = "",
          seed: int = 0) -> float:
  """The reference's whole run, as its user runs it: train `steps` Adam steps on
  fresh batches, print the loss every `log_every` steps, evaluate the test MSE on
  `eval_prompts` fresh prompts every `eval_every` steps and at the end, and save
  the model (`out`: a .pt path; none when empty). Returns the final test MSE.
  `threads` = 0: torch's default thread count."""
  if threads:
    torch.set_num_threads(threads)
  torch.manual_seed(seed)
  gen = torch.Generator().manual_seed(seed)
  model = OneLayerAttention(num_heads=heads)
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
  step_fn = make_step(model, optimizer)

  def test_mse() -> float:
    with torch.no_grad():
      total, done = 0.0, 0
      while done < eval_prompts:
        n = min(4096, eval_prompts - done)
        z, zq, yq = sample(n, generator=gen)
        total += float(torch.sum(torch.square(model(z, zq) - yq)))
        done += n
    return total / eval_prompts

  mse = float("nan")
  for step in range(1, steps + 1):
    loss = step_fn(*sample(256, generator=gen))
    if step % log_every == 0:
      line = f"step {step}/{steps}  loss {float(loss):.4f}"
      if step % eval_every == 0 or step == steps:
        mse = test_mse()
        line += f"  test {mse:.4f}"
      print(line, flush=True)
  if out:
    torch.save(model.state_dict(), out)
  return mse


if __name__ == "__main__":  # the whole-process baseline (benchmarks/sections/whole_process.py)
  import argparse
  parser = argparse.ArgumentParser(description=train.__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=20_000)
  parser.add_argument("--heads", type=int, default=2)
  parser.add_argument("--threads", type=int, default=0)
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  train(args.steps, args.heads, args.threads, out=args.out)
