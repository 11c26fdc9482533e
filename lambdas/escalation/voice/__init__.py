"""Voice calls: a person's notification rules ring them some minutes after a level texts them."""
