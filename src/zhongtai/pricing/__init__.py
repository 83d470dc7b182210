"""Price service (价格服务): price lists by channel, store, member tier and time."""
