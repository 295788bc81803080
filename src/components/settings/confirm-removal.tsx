"use client";
// The inline "are you sure?" box under a listed credential (an SSH key, an API token): one question, one red action, one way back.
export function ConfirmRemoval(props: {
  question: string;
  action: string;
  pendingAction: string;
  pending: boolean;
  onConfirm: () => void;
  onCancel: () => void;
  testId: string;
}) {
  return (
    <div className="mt-2 rounded border border-red-300 bg-red-50 p-2 text-sm dark:border-red-800 dark:bg-red-950/50">
      <p className="text-red-800 dark:text-red-200">{props.question}</p>
      <div className="mt-2 flex flex-wrap gap-2">
        <button
          type="button"
          disabled={props.pending}
          onClick={props.onConfirm}
          className="rounded bg-red-600 px-3 py-1.5 font-medium text-white disabled:opacity-50"
          data-testid={props.testId}
        >
          {props.pending ? props.pendingAction : props.action}
        </button>
        <button
          type="button"
          onClick={props.onCancel}
          className="rounded px-3 py-1.5 text-gray-700 hover:bg-gray-100 dark:text-gray-200 dark:hover:bg-gray-800"
        >
          Cancel
        </button>
      </div>
    </div>
  );
}
