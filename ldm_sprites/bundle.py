"""``python -m ldm_sprites.bundle RUN OUT``: an alias of ``ldmsprites bundle``, kept for old recipes."""

if __name__ == "__main__":
    from ldm_sprites.cli.bundle_cmd import bundle

    bundle(prog_name="python -m ldm_sprites.bundle")
