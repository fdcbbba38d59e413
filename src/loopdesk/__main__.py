from loopdesk.entry import main

main()
