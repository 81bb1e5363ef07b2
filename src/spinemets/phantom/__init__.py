"""spinemets.phantom"""
