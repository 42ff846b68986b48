from transcriber_cli.cli import main

main()
