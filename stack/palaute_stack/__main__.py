from palaute_stack.cli import main

main()
