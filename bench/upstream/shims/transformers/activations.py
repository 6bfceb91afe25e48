"""ACT2FN: activation name -> module instance (exact erf GELU for 'gelu', as transformers)."""
import torch.nn as nn

ACT2FN = {
    "gelu": nn.GELU(),
    "relu": nn.ReLU(),
    "tanh": nn.Tanh(),
    "gelu_new": nn.GELU(approximate="tanh"),
    "silu": nn.SiLU(),
}
