"""targets/http"""
