"""ibx configs (INI, `ibx config show` format) as nested dicts with typed values."""
import configparser


def _value(text):
    t = text.strip()
    if t in ("true", "false"):
        return t == "true"
    for kind in (int, float):
        try:
            return kind(t)
        except ValueError:
            pass
    return t


def parse_config(text):
    """INI text -> {section: {key: value}}; values are bool, int, float or str
    (as written: an empty value is '')."""
    p = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"),
                                  inline_comment_prefixes=None)
    p.optionxform = str  # keys keep their case (model.K, model.Q)
    p.read_string(text)
    return {s: {k: _value(v) for k, v in p[s].items()} for s in p.sections()}


def read_config(path):
    with open(path) as f:
        return parse_config(f.read())


def flatten(cfg):
    """{section: {key: v}} -> {'section.key': v}."""
    return {f"{s}.{k}": v for s, kv in cfg.items() for k, v in kv.items()}
