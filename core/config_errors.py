"""The one error a bad config raises; its message names the file, the key and the reason."""


class ConfigError(Exception):
    pass
