"""BertConfig with bert-base-uncased's values (what BertConfig.from_pretrained("bert-base-uncased")
gives upstream) plus the PretrainedConfig defaults Qformer.py reads."""


class BertConfig:
    def __init__(self, **kwargs):
        self.vocab_size = 30522
        self.hidden_size = 768
        self.num_hidden_layers = 12
        self.num_attention_heads = 12
        self.intermediate_size = 3072
        self.hidden_act = "gelu"
        self.hidden_dropout_prob = 0.1
        self.attention_probs_dropout_prob = 0.1
        self.max_position_embeddings = 512
        self.type_vocab_size = 2
        self.initializer_range = 0.02
        self.layer_norm_eps = 1e-12
        self.pad_token_id = 0
        self.position_embedding_type = "absolute"
        self.use_cache = True
        # PretrainedConfig defaults
        self.output_attentions = False
        self.output_hidden_states = False
        self.use_return_dict = True
        self.chunk_size_feed_forward = 0
        self.is_decoder = False
        self.add_cross_attention = False
        self.gradient_checkpointing = False
        for k, v in kwargs.items():
            setattr(self, k, v)

    @classmethod
    def from_pretrained(cls, name, **kwargs):
        if name != "bert-base-uncased":
            raise ValueError(f"bench shim: only bert-base-uncased is known, not {name}")
        return cls(**kwargs)
