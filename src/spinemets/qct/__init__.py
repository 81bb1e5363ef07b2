"""spinemets.qct"""
