"""Zhongtai (中台): an open omnichannel retail middle platform."""

__version__ = "0.1.0"
