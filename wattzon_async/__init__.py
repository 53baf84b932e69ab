"""wattzon-async: an asyncio SDK for the WattzOn Snap API and the Link look-ups."""
