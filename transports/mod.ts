/**
 * @safla/transports
 *
 * @module
 */
export {};
