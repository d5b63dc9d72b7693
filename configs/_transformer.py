"""The transformer's model fields with defaults and one-line comments (shared by the
token-task configs; each config overrides what its paper uses)."""


def set_transformer(model) -> None:
  """Fills `config.model` with every field of icl.models.transformer.TransformerConfig."""
  model.name = "transformer"
  model.d_model = 64  # residual width
  model.num_layers = 2  # attention (+ MLP) blocks
  model.num_heads = 1  # heads per attention layer (d_h = d_model / num_heads)
  model.attention = "softmax"  # 'softmax', 'linear', 'sigmoid' or 'relu' (attention_kinds.ATTENTION)
  model.feature_map = "identity"  # linear attention only: 'identity' or 'elu1' on q and k
  model.linear_normalizer = "none"  # linear attention only: 'none', 'position' (÷ i) or 'sum' (÷ row sum)
  model.sigmoid_bias = 0.0  # sigmoid attention only: initial b in sigmoid(s + b), e.g. -log T
  model.sigmoid_bias_learnable = True  # sigmoid attention only: b is trained (else fixed)
  model.mlp = False  # a ReLU MLP after each attention
  model.mlp_ratio = 4  # MLP hidden width / d_model
  model.positions = "learned"  # 'learned' absolute, 'rotary' or 'none'
  model.rope_base = 10_000.0  # rotary frequency base
  model.norm = "pre"  # 'pre' (pre-LN and a final LN) or 'none'
  model.residual = True  # skip connections around attention and MLP
  model.tied_embeddings = False  # read out with the token embedding
  model.qk_norm = False  # LayerNorm on queries and keys (Wortsman et al., 2023)
  model.sigma_reparam = False  # σReparam W -> (γ/σ(W)) W on attention/MLP weights (Zhai et al., 2023)
  model.sigma_gamma_init = "one"  # σReparam γ at init: 'one' or 'sigma' (σ of the init W)
  model.power_iters = 16  # σReparam power iterations per forward pass
  model.softcap = 0.0  # attention logit soft-cap c·tanh(s/c); 0 = off
  model.short_conv = 0  # causal depthwise convolution of this length on q, k, v (Based, DeltaNet); 0 = off
  model.embed_init_std = 0.02  # std of the token and learned position embeddings (PyTorch nn.Embedding: 1.0)
  model.readout_init_std = 0.02  # std of the untied read-out
