"""OneID (标识中心): which identifiers (member, phone, device, cookie, ...) are one person."""
