from ldm_sprites.cli import main

main()
