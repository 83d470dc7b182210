"""Data middle platform (数据中台): collector, OneID, tags, audiences, analyses."""
