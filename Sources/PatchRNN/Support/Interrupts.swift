import CSync

/// SIGINT and SIGTERM as a flag that training polls after every step, so that it can finish
/// the step, save its state and exit (a second signal of the same kind ends the process at
/// once). The command-line tool installs the handlers; the library only reads the flag.
public enum Interrupts {
    /// Installs the handlers (and unblocks the two signals, which a parent may have blocked).
    public static func install() { csync_install_interrupt_handlers() }

    /// SIGINT and SIGTERM with their default action (end the process) and not blocked, whatever
    /// the parent left (Foundation's Process starts children with them blocked): what every
    /// command but training wants.
    public static func reset() {
        csync_restore_default_signals()
        csync_unblock_interrupt_signals()
    }

    /// Gives SIGINT and SIGTERM their default action back (after training: a Ctrl-C during the
    /// final validation or generation ends the process at once).
    public static func uninstall() { csync_restore_default_signals() }

    /// The signal received since installation (0: none).
    public static var signal: Int32 { csync_interrupt_signal() }
}
