"""ftfy.fix_text: only ImageBind's text tokenizer calls it (not on the audio path)."""


def fix_text(text):
    return text
