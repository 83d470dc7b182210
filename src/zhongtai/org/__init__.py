"""User centre (用户中心): organisation, staff, roles, permissions, dictionary, coding rules."""
