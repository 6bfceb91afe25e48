/** Symbols for the package-internal methods Model offers to Chat (not part of the public API). */
export const kChatTurn = Symbol('groundinggpt.chatTurn');
export const kPrepare = Symbol('groundinggpt.prepare');
