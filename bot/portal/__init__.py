"""The web portal (aiohttp): health page, student web chat, mentor and coordinator pages."""
