"""Entry point of group ``sglang.srt.plugins`` (SGLang >= 0.5.11 loads it in its own
processes). The .pth already armed the hook in every process; this is the second way
in, for images where site-packages .pth files are not processed."""


def load() -> None:
    from ._startup import activate

    activate()
