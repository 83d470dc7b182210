"""Tag centre (标签中心) and audience selection (标签圈选)."""
