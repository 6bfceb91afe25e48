"""iopath g_pathmgr.open: only ImageBind's text tokenizer uses it (not on the audio path)."""


class _PathManager:
    def open(self, path, mode="r", **kwargs):
        return open(path, mode, **kwargs)


g_pathmgr = _PathManager()
