from nodkit.cli import main

main()
