import msgspec


class Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Shared options: unknown fields are refused, defaults left out. (kw_only is not inherited
    by msgspec subclasses, so each payload states it.)"""
