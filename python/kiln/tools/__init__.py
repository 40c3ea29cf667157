"""Spellings that OpenVINO's tools use, for code written against them (see kiln.tools.mo)."""
