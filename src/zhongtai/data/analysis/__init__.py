"""Behaviour analyses over the warehouse: funnels (漏斗分析) and retention (留存分析)."""
