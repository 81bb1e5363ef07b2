"""spinemets.segment"""
