// What the page remembers between views (not across reloads).
export const state = {
  generation: 0,
  platform: undefined, // undefined: not asked yet; null: not available to this user
  syncResults: {}, // connection id -> text of the last sync started from this page
};
