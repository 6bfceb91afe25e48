"""PreTrainedModel pieces used by Qformer.py's BertModel / BertLMHeadModel at inference:
construction with a config, init_weights (apply _init_weights), dtype/device, the attention-mask
helpers (as transformers 4.x: masked positions get dtype-min), get_head_mask (None -> [None]*n),
apply_chunking_to_forward (chunk size 0 -> one call). Pruning helpers exist for the import only."""
import torch
import torch.nn as nn


class PreTrainedModel(nn.Module):
    config_class = None
    base_model_prefix = ""

    def __init__(self, config, *inputs, **kwargs):
        super().__init__()
        self.config = config

    def init_weights(self):
        self.apply(self._init_weights)

    def post_init(self):
        self.init_weights()

    def _init_weights(self, module):
        pass

    @property
    def dtype(self):
        return next(self.parameters()).dtype

    @property
    def device(self):
        return next(self.parameters()).device

    def invert_attention_mask(self, encoder_attention_mask):
        if encoder_attention_mask.dim() == 3:
            ext = encoder_attention_mask[:, None, :, :]
        else:
            ext = encoder_attention_mask[:, None, None, :]
        ext = ext.to(dtype=self.dtype)
        return (1.0 - ext) * torch.finfo(self.dtype).min

    def get_head_mask(self, head_mask, num_hidden_layers, is_attention_chunked=False):
        if head_mask is not None:
            raise NotImplementedError("bench shim: head_mask is not used by upstream's inference")
        return [None] * num_hidden_layers


def apply_chunking_to_forward(forward_fn, chunk_size, chunk_dim, *input_tensors):
    if chunk_size > 0:
        n = input_tensors[0].shape[chunk_dim] // chunk_size
        chunks = zip(*(t.chunk(n, dim=chunk_dim) for t in input_tensors))
        return torch.cat([forward_fn(*c) for c in chunks], dim=chunk_dim)
    return forward_fn(*input_tensors)


def find_pruneable_heads_and_indices(*args, **kwargs):
    raise NotImplementedError("bench shim: head pruning is not used")


def prune_linear_layer(*args, **kwargs):
    raise NotImplementedError("bench shim: head pruning is not used")
