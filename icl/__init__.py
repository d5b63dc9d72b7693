"""icl: a JAX/Flax lab for the theory of in-context learning in attention.

Entry points (each also a ``python -m`` module):
  icl.train     train a model from an ml_collections config into a work directory
  icl.evaluate  evaluate the latest checkpoint of a work directory
"""

__version__ = "0.1.0"
