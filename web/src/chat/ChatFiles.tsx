import { useTranslation } from "react-i18next";
import { errorInfo, errorMessage } from "../api/errors";
import { useFormat } from "../i18n/format";
import { fileSize } from "../views/TaskDetailView";
import { attachmentUrl, isImage, MAX_PER_MESSAGE, type PendingFile } from "./attachments";
import type { MessageFile } from "./conversation";
import "./attachments.css";

/** The files chosen for the next message, each with its state and a remove button. */
export function FileChips({ files, onRemove }: { files: PendingFile[]; onRemove: (key: string) => void }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  if (!files.length) return null;

  function problem(file: PendingFile): string {
    if (file.reason === "tooMany") return t("chatFiles.tooMany", { max: MAX_PER_MESSAGE });
    if (file.reason === "network") return t("common.networkError");
    const info = errorInfo(file.error);
    const max = info?.detail && typeof info.detail === "object" ? (info.detail as { max_bytes?: unknown }).max_bytes : undefined;
    const message = errorMessage(file.error, t("chatFiles.uploadFailed"));
    return typeof max === "number" ? t("chatFiles.tooLarge", { message, max: fileSize(max, fmt.number) }) : message;
  }

  return (
    <ul className="chat-files" aria-label={t("chatFiles.chosen")}>
      {files.map((file) => (
        <li key={file.key} className={`chat-file chat-file-${file.status}`} data-testid="chat-attachment" data-status={file.status}>
          <span className="chat-file-name">{file.name}</span>{" "}
          <span className="muted small">{fileSize(file.size, fmt.number)}</span>
          {file.status === "uploading" && <span className="muted small"> {t("chatFiles.uploading")}</span>}
          {file.status === "failed" && <span className="chat-file-error" role="alert">{problem(file)}</span>}
          <button
            type="button"
            className="chat-file-remove"
            aria-label={t("chatFiles.remove", { name: file.name })}
            onClick={() => onRemove(file.key)}
          >
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}

/** A sent message's files: images as small thumbnails, other files as download links (same-origin, the cookie
 * authenticates the request). */
export function MessageFiles({ sessionId, files }: { sessionId: string; files: MessageFile[] }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  return (
    <ul className="message-files" aria-label={t("chatFiles.sent")}>
      {files.map((file) => {
        const url = attachmentUrl(sessionId, file.id);
        const label = `${file.filename} (${fileSize(file.size, fmt.number)})`;
        return (
          <li key={file.id} data-testid="chat-message-file">
            {isImage(file.content_type) ? (
              <a href={url} target="_blank" rel="noopener noreferrer" title={label}>
                <img className="message-thumb" src={url} alt={file.filename} loading="lazy" />
              </a>
            ) : (
              <a href={url} download={file.filename}>
                <span aria-hidden="true">📄 </span>
                {label}
              </a>
            )}
          </li>
        );
      })}
    </ul>
  );
}
