"""Output dataclasses: attribute access, and integer indexing over the fields that are not None
(what transformers' ModelOutput.to_tuple() gives), which Qformer.py uses (encoder_outputs[0])."""
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Optional, Tuple

import torch


class ModelOutput(OrderedDict):
    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                self[f.name] = v

    def __getitem__(self, k):
        if isinstance(k, str):
            return dict(self.items())[k]
        return self.to_tuple()[k]

    def to_tuple(self):
        return tuple(self[k] for k in self.keys())


def _output(name, names):
    ns = {"__annotations__": {n: Optional[object] for n in names}}
    for n in names:
        ns[n] = None
    return dataclass(type(name, (ModelOutput,), ns))


BaseModelOutputWithPastAndCrossAttentions = _output(
    "BaseModelOutputWithPastAndCrossAttentions",
    ["last_hidden_state", "past_key_values", "hidden_states", "attentions", "cross_attentions"])
BaseModelOutputWithPoolingAndCrossAttentions = _output(
    "BaseModelOutputWithPoolingAndCrossAttentions",
    ["last_hidden_state", "pooler_output", "hidden_states", "past_key_values", "attentions", "cross_attentions"])
CausalLMOutputWithCrossAttentions = _output(
    "CausalLMOutputWithCrossAttentions",
    ["loss", "logits", "past_key_values", "hidden_states", "attentions", "cross_attentions"])
MaskedLMOutput = _output("MaskedLMOutput", ["loss", "logits", "hidden_states", "attentions"])
MultipleChoiceModelOutput = _output("MultipleChoiceModelOutput", ["loss", "logits", "hidden_states", "attentions"])
NextSentencePredictorOutput = _output("NextSentencePredictorOutput", ["loss", "logits", "hidden_states", "attentions"])
QuestionAnsweringModelOutput = _output(
    "QuestionAnsweringModelOutput", ["loss", "start_logits", "end_logits", "hidden_states", "attentions"])
SequenceClassifierOutput = _output("SequenceClassifierOutput", ["loss", "logits", "hidden_states", "attentions"])
TokenClassifierOutput = _output("TokenClassifierOutput", ["loss", "logits", "hidden_states", "attentions"])
